//! Parsing of `multipart/related` upload bodies (RFC 2387): a JSON metadata part followed by
//! the media part, as Google's upload protocol and the google-apis-common crate send them.

/// One part of a multipart body.
#[derive(Debug)]
pub struct Part<'a> {
    /// Lowercased `Content-Type` of the part, empty when absent.
    pub content_type: String,
    /// The part's body.
    pub body: &'a [u8],
}

/// Extracts the `boundary` parameter of a `multipart/related` content type.
pub fn boundary(content_type: &str) -> Option<String> {
    let mut pieces = content_type.split(';');
    let media_type = pieces.next()?.trim();
    if !media_type.eq_ignore_ascii_case("multipart/related") {
        return None;
    }
    pieces.find_map(|piece| {
        let (name, value) = piece.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("boundary")
            .then(|| value.trim().trim_matches('"').to_string())
    })
}

/// Splits a multipart body at `--boundary` delimiter lines. Returns `None` when no closing
/// delimiter is found.
pub fn parse<'a>(body: &'a [u8], boundary: &str) -> Option<Vec<Part<'a>>> {
    let delimiter = format!("--{boundary}");
    let mut parts = Vec::new();
    let mut position = find_delimiter(body, delimiter.as_bytes(), 0)?;

    loop {
        let after = position + delimiter.len();
        if body[after..].starts_with(b"--") {
            return Some(parts);
        }
        let start = skip_newline(body, after);
        let next = find_delimiter(body, delimiter.as_bytes(), start)?;
        let end = trim_trailing_newline(body, start, next);
        parts.push(parse_part(&body[start..end])?);
        position = next;
    }
}

/// Finds a delimiter at the start of the body or of a line, at or after `from`.
fn find_delimiter(body: &[u8], delimiter: &[u8], from: usize) -> Option<usize> {
    let mut index = from;
    while index + delimiter.len() <= body.len() {
        let at_line_start = index == 0 || body[index - 1] == b'\n';
        if at_line_start && body[index..].starts_with(delimiter) {
            return Some(index);
        }
        index += 1;
    }
    None
}

fn skip_newline(body: &[u8], index: usize) -> usize {
    if body[index..].starts_with(b"\r\n") {
        index + 2
    } else if body[index..].starts_with(b"\n") {
        index + 1
    } else {
        index
    }
}

/// Drops the line break that belongs to the next delimiter.
fn trim_trailing_newline(body: &[u8], start: usize, end: usize) -> usize {
    if end >= start + 2 && &body[end - 2..end] == b"\r\n" {
        end - 2
    } else if end > start && body[end - 1] == b'\n' {
        end - 1
    } else {
        end
    }
}

fn parse_part(part: &[u8]) -> Option<Part<'_>> {
    let (head, body) = match find(part, b"\r\n\r\n") {
        Some(index) => (&part[..index], &part[index + 4..]),
        None => {
            let index = find(part, b"\n\n")?;
            (&part[..index], &part[index + 2..])
        }
    };
    let head = String::from_utf8_lossy(head);
    let content_type = head
        .lines()
        .filter_map(|line| line.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("content-type"))
        .map(|(_, value)| value.trim().to_ascii_lowercase())
        .unwrap_or_default();
    Some(Part { content_type, body })
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_google_client_layout() {
        let body = b"\r\n--B\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}\r\n--B\r\ncontent-type: message/rfc822\r\n\r\nTo: a@b\r\n\r\nhi\r\n--B--\r\n";
        let parts = parse(body, "B").expect("parts");
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].content_type, "application/json");
        assert_eq!(parts[0].body, b"{}");
        assert_eq!(parts[1].content_type, "message/rfc822");
        assert_eq!(parts[1].body, b"To: a@b\r\n\r\nhi");
    }

    #[test]
    fn boundary_with_quotes() {
        assert_eq!(
            boundary("multipart/related; boundary=\"xyz\"").as_deref(),
            Some("xyz")
        );
        assert_eq!(boundary("application/json"), None);
    }
}
