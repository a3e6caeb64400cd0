//! RFC 5322 handling for Gmail sends: recipient checks, the header rewrites Gmail applies
//! (From, Message-ID, Date, Bcc), and the parsed view tests read.

use chrono::{DateTime, Utc};
use mail_parser::{Address, HeaderValue, MessageParser, MimeHeaders};

use crate::keys::random_token;

/// A message sent through the emulated Gmail API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentMessage {
    /// Gmail message id.
    pub id: String,
    /// Gmail thread id.
    pub thread_id: String,
    /// The message as stored in the sender's Sent folder, Bcc header included.
    pub raw: Vec<u8>,
    /// The message as recipients receive it, without the Bcc header.
    pub delivered_raw: Vec<u8>,
    /// Decoded Subject (RFC 2047 words decoded).
    pub subject: Option<String>,
    /// From address.
    pub from: Option<String>,
    /// To addresses.
    pub to: Vec<String>,
    /// Cc addresses.
    pub cc: Vec<String>,
    /// Bcc addresses.
    pub bcc: Vec<String>,
    /// Reply-To addresses.
    pub reply_to: Vec<String>,
    /// In-Reply-To message id, without angle brackets.
    pub in_reply_to: Option<String>,
    /// References message ids, without angle brackets.
    pub references: Vec<String>,
    /// First text/plain body.
    pub text_body: Option<String>,
    /// First text/html body.
    pub html_body: Option<String>,
    /// Attachments in message order.
    pub attachments: Vec<SentAttachment>,
}

/// An attachment of a sent message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentAttachment {
    /// Decoded file name (RFC 2231 or RFC 2047), empty when the part has none.
    pub filename: String,
    /// `type/subtype`.
    pub content_type: String,
    /// Decoded content.
    pub bytes: Vec<u8>,
}

/// Reason Gmail rejects a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageProblem {
    /// A To header without a valid address.
    InvalidTo,
    /// No address in To, Cc or Bcc.
    NoRecipient,
}

/// Checks that the message has at least one recipient.
pub fn check_recipients(raw: &[u8]) -> Result<(), MessageProblem> {
    let Some(message) = MessageParser::default().parse(raw) else {
        return Err(MessageProblem::NoRecipient);
    };

    let to_raw = message.header_raw("To").map(str::trim).unwrap_or_default();
    let to = addresses(message.to());
    if !to_raw.is_empty() && to.is_empty() {
        return Err(MessageProblem::InvalidTo);
    }

    let any_recipient = !to.is_empty()
        || !addresses(message.cc()).is_empty()
        || !addresses(message.bcc()).is_empty();
    if any_recipient {
        Ok(())
    } else {
        Err(MessageProblem::NoRecipient)
    }
}

/// Applies Gmail's rewrites for a message sent by `user`. Returns the Sent-folder copy (with Bcc)
/// and the copy recipients receive (without Bcc).
pub fn prepare_for_sending(raw: &[u8], user: &str, now: DateTime<Utc>) -> (Vec<u8>, Vec<u8>) {
    let (mut headers, body, newline) = split_headers(raw);

    let from_is_user = MessageParser::default()
        .parse(raw)
        .and_then(|message| first_address(message.from()))
        .is_some_and(|from| from.eq_ignore_ascii_case(user));
    if !from_is_user {
        let display = header_value(&headers, "From").and_then(display_name_part);
        let value = match display {
            Some(display) => format!("{display} <{user}>"),
            None => user.to_string(),
        };
        set_header(&mut headers, "From", &value);
    }
    if header_value(&headers, "Message-ID").is_none() {
        let id = format!("<{}@mail.gmail.com>", random_token(32));
        set_header(&mut headers, "Message-ID", &id);
    }
    if header_value(&headers, "Date").is_none() {
        set_header(&mut headers, "Date", &now.to_rfc2822());
    }

    let sent = join_message(&headers, body, newline);
    headers.retain(|header| !header_named(header, "Bcc"));
    let delivered = join_message(&headers, body, newline);
    (sent, delivered)
}

/// Parses a stored message for tests and the control API.
pub fn parse_sent(id: &str, thread_id: &str, raw: &[u8], delivered_raw: &[u8]) -> SentMessage {
    let mut sent = SentMessage {
        id: id.to_string(),
        thread_id: thread_id.to_string(),
        raw: raw.to_vec(),
        delivered_raw: delivered_raw.to_vec(),
        subject: None,
        from: None,
        to: Vec::new(),
        cc: Vec::new(),
        bcc: Vec::new(),
        reply_to: Vec::new(),
        in_reply_to: None,
        references: Vec::new(),
        text_body: None,
        html_body: None,
        attachments: Vec::new(),
    };
    let Some(message) = MessageParser::default().parse(raw) else {
        return sent;
    };

    sent.subject = message.subject().map(str::to_string);
    sent.from = first_address(message.from());
    sent.to = addresses(message.to());
    sent.cc = addresses(message.cc());
    sent.bcc = addresses(message.bcc());
    sent.reply_to = addresses(message.reply_to());
    sent.in_reply_to = text_values(message.in_reply_to()).into_iter().next();
    sent.references = text_values(message.references());
    sent.text_body = message
        .text_part(0)
        .filter(|part| !part.is_text_html())
        .and_then(|part| part.text_contents())
        .map(str::to_string);
    sent.html_body = message
        .html_part(0)
        .filter(|part| part.is_text_html())
        .and_then(|part| part.text_contents())
        .map(str::to_string);
    sent.attachments = message
        .attachments()
        .map(|part| SentAttachment {
            filename: part.attachment_name().unwrap_or_default().to_string(),
            content_type: part
                .content_type()
                .map(|ct| match ct.subtype() {
                    Some(subtype) => format!("{}/{}", ct.ctype(), subtype),
                    None => ct.ctype().to_string(),
                })
                .unwrap_or_else(|| "application/octet-stream".to_string()),
            bytes: part.contents().to_vec(),
        })
        .collect();
    sent
}

fn addresses(address: Option<&Address<'_>>) -> Vec<String> {
    address
        .map(|address| {
            address
                .iter()
                .filter_map(|addr| addr.address())
                .filter(|addr| addr.contains('@'))
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

fn first_address(address: Option<&Address<'_>>) -> Option<String> {
    addresses(address).into_iter().next()
}

fn text_values(value: &HeaderValue<'_>) -> Vec<String> {
    match value {
        HeaderValue::Text(text) => vec![text.to_string()],
        HeaderValue::TextList(list) => list.iter().map(|text| text.to_string()).collect(),
        _ => Vec::new(),
    }
}

/// Splits a message into header fields (each with its folded continuation lines), the body,
/// and the line ending the message uses.
fn split_headers(raw: &[u8]) -> (Vec<Vec<u8>>, &[u8], &'static str) {
    let newline = if raw.windows(2).any(|pair| pair == b"\r\n") {
        "\r\n"
    } else {
        "\n"
    };
    let separator = format!("{newline}{newline}");
    let (head, body) = match find(raw, separator.as_bytes()) {
        Some(index) => (&raw[..index], &raw[index + separator.len()..]),
        None => (raw, &raw[raw.len()..]),
    };

    let mut headers: Vec<Vec<u8>> = Vec::new();
    for line in split_lines(head, newline.as_bytes()) {
        let continuation = line
            .first()
            .is_some_and(|byte| *byte == b' ' || *byte == b'\t');
        match headers.last_mut() {
            Some(last) if continuation => {
                last.extend_from_slice(newline.as_bytes());
                last.extend_from_slice(line);
            }
            _ => headers.push(line.to_vec()),
        }
    }
    (headers, body, newline)
}

fn split_lines<'a>(text: &'a [u8], newline: &[u8]) -> Vec<&'a [u8]> {
    let mut lines = Vec::new();
    let mut rest = text;
    while let Some(index) = find(rest, newline) {
        lines.push(&rest[..index]);
        rest = &rest[index + newline.len()..];
    }
    if !rest.is_empty() {
        lines.push(rest);
    }
    lines
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

fn header_named(header: &[u8], name: &str) -> bool {
    header.len() > name.len()
        && header[name.len()] == b':'
        && header[..name.len()].eq_ignore_ascii_case(name.as_bytes())
}

fn header_value(headers: &[Vec<u8>], name: &str) -> Option<String> {
    let header = headers.iter().find(|header| header_named(header, name))?;
    Some(
        String::from_utf8_lossy(&header[name.len() + 1..])
            .trim()
            .to_string(),
    )
}

/// Returns the raw display-name part of a `Name <address>` header value, still encoded.
fn display_name_part(value: String) -> Option<String> {
    let index = value.rfind('<')?;
    let display = value[..index].trim();
    (!display.is_empty()).then(|| display.to_string())
}

fn set_header(headers: &mut Vec<Vec<u8>>, name: &str, value: &str) {
    let line = format!("{name}: {value}").into_bytes();
    match headers.iter().position(|header| header_named(header, name)) {
        Some(index) => headers[index] = line,
        None => headers.push(line),
    }
}

fn join_message(headers: &[Vec<u8>], body: &[u8], newline: &str) -> Vec<u8> {
    let mut message = Vec::with_capacity(body.len() + 1024);
    for header in headers {
        message.extend_from_slice(header);
        message.extend_from_slice(newline.as_bytes());
    }
    message.extend_from_slice(newline.as_bytes());
    message.extend_from_slice(body);
    message
}
