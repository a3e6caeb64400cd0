//! Checks a send request and turns it into a [`Draft`], before anything is
//! stored or sent. Every rejection is a 400 (or 413 for size) naming the field.

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine;
use lettre::message::header::ContentType;
use lettre::message::Mailbox;

use super::mime::{Draft, DraftAttachment, DraftBody, MAX_MESSAGE_BYTES};
use super::model::{Address, AttachmentRequest, SendMessageRequest};
use crate::error::{ApiError, ApiResult};

/// Maximum subject length in characters: the line limit of RFC 5322 section 2.1.1,
/// so a subject stays readable in clients that do not unfold long headers.
pub const MAX_SUBJECT_CHARS: usize = 998;

/// Maximum attachment file name length in characters, the common file-system limit.
pub const MAX_FILENAME_CHARS: usize = 255;

/// Maximum length of one `Message-ID` in `in_reply_to` or `references`.
const MAX_MESSAGE_ID_CHARS: usize = 998;

/// Maximum Gmail thread id length; Gmail's ids are 16 hexadecimal digits.
const MAX_THREAD_ID_CHARS: usize = 128;

/// Standard base64 that accepts input with or without `=` padding.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Checks `request` for the agent `from` (an enrolled, normalized address) and builds the draft.
pub fn draft(from: &str, request: SendMessageRequest) -> ApiResult<Draft> {
    let from = Mailbox::new(None, parse_address(from, "email")?);

    if request.to.is_empty() && request.cc.is_empty() && request.bcc.is_empty() {
        return Err(ApiError::invalid(
            "missing_recipient",
            "to",
            "Give at least one recipient in to, cc or bcc.",
        ));
    }
    let to = mailboxes(&request.to, "to")?;
    let cc = mailboxes(&request.cc, "cc")?;
    let bcc = mailboxes(&request.bcc, "bcc")?;
    let reply_to = mailboxes(&request.reply_to, "reply_to")?;

    check_subject(&request.subject)?;
    let body = body(request.text_body, request.html_body)?;

    if let Some(thread_id) = &request.thread_id {
        check_thread_id(thread_id)?;
    }
    if let Some(message_id) = &request.in_reply_to {
        check_message_id(message_id, "in_reply_to")?;
    }
    for (index, message_id) in request.references.iter().enumerate() {
        check_message_id(message_id, &format!("references[{index}]"))?;
    }

    let attachments = attachments(request.attachments)?;

    Ok(Draft {
        from,
        to,
        cc,
        bcc,
        reply_to,
        subject: request.subject,
        body,
        attachments,
        in_reply_to: request.in_reply_to,
        references: request.references,
    })
}

/// Builds the 413 for a message over Gmail's size limit.
pub fn too_large(size: usize) -> ApiError {
    ApiError::new(
        axum::http::StatusCode::PAYLOAD_TOO_LARGE,
        "message_too_large",
        format!(
            "The message would be about {size} bytes, over Gmail's limit of {MAX_MESSAGE_BYTES} bytes (35 MiB) including base64-encoded attachments; send fewer or smaller attachments."
        ),
    )
    .with_field("attachments")
}

fn mailboxes(addresses: &[Address], list: &str) -> ApiResult<Vec<Mailbox>> {
    addresses
        .iter()
        .enumerate()
        .map(|(index, address)| mailbox(address, &format!("{list}[{index}]")))
        .collect()
}

fn mailbox(address: &Address, field: &str) -> ApiResult<Mailbox> {
    let email = parse_address(&address.email, &format!("{field}.email"))?;

    let name = match address.name.as_deref() {
        None => None,
        Some(name) => {
            check_header_text(name, &format!("{field}.name"))?;
            let trimmed = name.trim();
            (!trimmed.is_empty()).then(|| trimmed.to_owned())
        }
    };

    Ok(Mailbox::new(name, email))
}

/// Parses a bare address and converts an internationalized domain to its
/// ASCII (punycode) form. The local part must be ASCII because the gateway
/// does not write RFC 6532 UTF-8 headers.
fn parse_address(raw: &str, field: &str) -> ApiResult<lettre::Address> {
    let invalid = |reason: &str| {
        ApiError::invalid(
            "invalid_address",
            field,
            format!("{raw:?} is not a valid email address: {reason}. Use a bare address such as jane@example.com."),
        )
    };

    if raw.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(invalid("it contains spaces or control characters"));
    }
    let (local, domain) = raw.rsplit_once('@').ok_or_else(|| invalid("it has no @"))?;
    if !local.is_ascii() {
        return Err(invalid("the part before @ must be ASCII"));
    }

    let domain =
        ascii_domain(domain).ok_or_else(|| invalid("the domain is not a valid domain name"))?;
    let address = lettre::Address::new(local, &domain)
        .map_err(|_| invalid("the part before @ is malformed"))?;
    let serialized: &str = address.as_ref();
    if serialized.len() > 254 {
        return Err(invalid("it is longer than 254 characters"));
    }
    Ok(address)
}

/// Converts a DNS domain with at least two labels to ASCII. Returns `None` for IP literals and bad names.
fn ascii_domain(domain: &str) -> Option<String> {
    // `Host::parse` percent-decodes, which would change the address silently.
    if domain.contains('%') {
        return None;
    }

    match url::Host::parse(domain).ok()? {
        url::Host::Domain(ascii) => {
            let valid = ascii.contains('.')
                && ascii.split('.').all(|label| {
                    !label.is_empty()
                        && label.len() <= 63
                        && !label.starts_with('-')
                        && !label.ends_with('-')
                        && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                });
            valid.then_some(ascii)
        }
        url::Host::Ipv4(_) | url::Host::Ipv6(_) => None,
    }
}

/// Rejects CR and LF (a header injection attempt) and other control characters except tab.
fn check_header_text(value: &str, field: &str) -> ApiResult<()> {
    if value.contains(['\r', '\n']) {
        return Err(ApiError::invalid(
            "header_injection",
            field,
            "Header values must be one line: remove CR and LF characters.",
        ));
    }
    if value.chars().any(|c| c.is_control() && c != '\t') {
        return Err(ApiError::invalid(
            "invalid_header_value",
            field,
            "Header values must not contain control characters.",
        ));
    }
    Ok(())
}

fn check_subject(subject: &str) -> ApiResult<()> {
    check_header_text(subject, "subject")?;

    let length = subject.chars().count();
    if length > MAX_SUBJECT_CHARS {
        return Err(ApiError::invalid(
            "subject_too_long",
            "subject",
            format!(
                "The subject has {length} characters; shorten it to at most {MAX_SUBJECT_CHARS}."
            ),
        ));
    }
    Ok(())
}

fn body(text: Option<String>, html: Option<String>) -> ApiResult<DraftBody> {
    match (text, html) {
        (Some(text), Some(html)) => Ok(DraftBody::Alternative { text, html }),
        (Some(text), None) => Ok(DraftBody::Text(text)),
        (None, Some(html)) => Ok(DraftBody::Html(html)),
        (None, None) => Err(ApiError::invalid(
            "missing_body",
            "text_body",
            "Give text_body, html_body or both.",
        )),
    }
}

fn check_thread_id(thread_id: &str) -> ApiResult<()> {
    let valid = !thread_id.is_empty()
        && thread_id.len() <= MAX_THREAD_ID_CHARS
        && thread_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if valid {
        Ok(())
    } else {
        Err(ApiError::invalid(
            "invalid_thread_id",
            "thread_id",
            "Give the Gmail thread id as returned in gmail_thread_id, such as 18c2b4f0a1d3e5f7.",
        ))
    }
}

/// Checks the `<id-left@id-right>` form of RFC 5322 section 3.6.4, in printable ASCII.
fn check_message_id(message_id: &str, field: &str) -> ApiResult<()> {
    let inner = message_id
        .strip_prefix('<')
        .and_then(|rest| rest.strip_suffix('>'));
    let valid = message_id.len() <= MAX_MESSAGE_ID_CHARS
        && inner.is_some_and(|inner| match inner.split_once('@') {
            Some((left, right)) => {
                !left.is_empty()
                    && !right.is_empty()
                    && !right.contains('@')
                    && inner
                        .chars()
                        .all(|c| c.is_ascii_graphic() && c != '<' && c != '>')
            }
            None => false,
        });

    if valid {
        Ok(())
    } else {
        Err(ApiError::invalid(
            "invalid_message_id",
            field,
            format!("{message_id:?} is not a Message-ID; give it with angle brackets, such as <CAB12345@mail.gmail.com>."),
        ))
    }
}

fn attachments(requests: Vec<AttachmentRequest>) -> ApiResult<Vec<DraftAttachment>> {
    // Base64 text is at least as long as the base64 lines it becomes in the
    // message, so an over-long total can be rejected before decoding anything.
    let encoded_total: usize = requests
        .iter()
        .map(|request| request.data_base64.len())
        .sum();
    if encoded_total > MAX_MESSAGE_BYTES {
        return Err(too_large(encoded_total));
    }

    requests
        .into_iter()
        .enumerate()
        .map(|(index, request)| attachment(index, request))
        .collect()
}

fn attachment(index: usize, request: AttachmentRequest) -> ApiResult<DraftAttachment> {
    let field = |name: &str| format!("attachments[{index}].{name}");

    check_filename(&request.filename, &field("filename"))?;
    let content_type = content_type(&request.content_type, &field("content_type"))?;
    let data = BASE64.decode(request.data_base64.as_bytes()).map_err(|error| {
        ApiError::invalid(
            "invalid_attachment_data",
            field("data_base64"),
            format!("The attachment data is not standard base64 ({error}); encode the file with the RFC 4648 alphabet and no line breaks."),
        )
    })?;

    Ok(DraftAttachment {
        filename: request.filename,
        content_type,
        data,
    })
}

fn check_filename(filename: &str, field: &str) -> ApiResult<()> {
    let problem = if filename.trim().is_empty() {
        Some("it is empty")
    } else if filename.chars().count() > MAX_FILENAME_CHARS {
        Some("it is longer than 255 characters")
    } else if filename.contains(['/', '\\']) {
        Some("it contains a path separator")
    } else if filename.chars().any(char::is_control) {
        Some("it contains control characters")
    } else if filename == "." || filename == ".." {
        Some("it names a folder")
    } else {
        None
    };

    match problem {
        None => Ok(()),
        Some(reason) => Err(ApiError::invalid(
            "invalid_filename",
            field,
            format!("The attachment file name {filename:?} is not accepted: {reason}. Give a bare name such as listing.pdf."),
        )),
    }
}

fn content_type(raw: &str, field: &str) -> ApiResult<ContentType> {
    let invalid = || {
        ApiError::invalid(
            "invalid_content_type",
            field,
            format!("{raw:?} is not a MIME type for a file; use a type such as application/pdf or image/jpeg."),
        )
    };

    let parsed = ContentType::parse(raw).map_err(|_| invalid())?;
    if raw
        .trim_start()
        .to_ascii_lowercase()
        .starts_with("multipart/")
    {
        return Err(invalid());
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messages::model::Address;

    fn request() -> SendMessageRequest {
        SendMessageRequest {
            to: vec![Address {
                email: "buyer@example.com".to_owned(),
                name: Some("Jane Buyer".to_owned()),
            }],
            cc: vec![],
            bcc: vec![],
            reply_to: vec![],
            subject: "Showing".to_owned(),
            text_body: Some("Hello".to_owned()),
            html_body: None,
            attachments: vec![],
            thread_id: None,
            in_reply_to: None,
            references: vec![],
        }
    }

    fn rejection(request: SendMessageRequest) -> (&'static str, Option<String>) {
        let error =
            draft("agent@acme-realty.com", request).expect_err("request should be rejected");
        (error.code(), error.problem().field)
    }

    #[test]
    fn valid_request_passes() {
        let draft = draft("agent@acme-realty.com", request()).expect("valid request");
        assert_eq!(draft.to.len(), 1);
        assert_eq!(draft.from.email.to_string(), "agent@acme-realty.com");
    }

    #[test]
    fn missing_recipient_rejected() {
        let mut request = request();
        request.to.clear();
        assert_eq!(
            rejection(request),
            ("missing_recipient", Some("to".to_owned()))
        );
    }

    #[test]
    fn bcc_alone_is_enough() {
        let mut request = request();
        request.bcc = std::mem::take(&mut request.to);
        assert!(draft("agent@acme-realty.com", request).is_ok());
    }

    #[test]
    fn invalid_addresses_rejected() {
        for email in [
            "",
            "jane",
            "jane@",
            "@example.com",
            "jane@localhost",
            "a b@example.com",
            "jané@example.com",
            "jane@[127.0.0.1]",
            "Jane <jane@example.com>",
            "jane@example.com\r\nBcc: x@y.z",
        ] {
            let mut request = request();
            request.cc = vec![Address {
                email: email.to_owned(),
                name: None,
            }];
            assert_eq!(
                rejection(request),
                ("invalid_address", Some("cc[0].email".to_owned())),
                "{email:?}"
            );
        }
    }

    #[test]
    fn internationalized_domain_becomes_punycode() {
        let mut request = request();
        request.to[0].email = "jane@bücher.example".to_owned();
        let draft = draft("agent@acme-realty.com", request).expect("valid request");
        assert_eq!(draft.to[0].email.to_string(), "jane@xn--bcher-kva.example");
    }

    #[test]
    fn header_injection_rejected() {
        let mut subject = request();
        subject.subject = "Hi\r\nBcc: victim@example.com".to_owned();
        assert_eq!(
            rejection(subject),
            ("header_injection", Some("subject".to_owned()))
        );

        let mut name = request();
        name.to[0].name = Some("Jane\nBcc: victim@example.com".to_owned());
        assert_eq!(
            rejection(name),
            ("header_injection", Some("to[0].name".to_owned()))
        );

        let mut control = request();
        control.subject = "Hi\u{0}".to_owned();
        assert_eq!(
            rejection(control),
            ("invalid_header_value", Some("subject".to_owned()))
        );
    }

    #[test]
    fn subject_length_limit() {
        let mut at_limit = request();
        at_limit.subject = "é".repeat(MAX_SUBJECT_CHARS);
        assert!(draft("agent@acme-realty.com", at_limit).is_ok());

        let mut over = request();
        over.subject = "a".repeat(MAX_SUBJECT_CHARS + 1);
        assert_eq!(
            rejection(over),
            ("subject_too_long", Some("subject".to_owned()))
        );
    }

    #[test]
    fn missing_body_rejected() {
        let mut request = request();
        request.text_body = None;
        assert_eq!(
            rejection(request),
            ("missing_body", Some("text_body".to_owned()))
        );
    }

    #[test]
    fn message_ids_checked() {
        let mut valid = request();
        valid.in_reply_to = Some("<CAB1.2@mail.gmail.com>".to_owned());
        valid.references = vec!["<a@b>".to_owned(), "<CAB1.2@mail.gmail.com>".to_owned()];
        assert!(draft("agent@acme-realty.com", valid).is_ok());

        for bad in [
            "CAB1@mail.gmail.com",
            "<CAB1>",
            "<@x>",
            "<a@>",
            "<a b@c>",
            "<a@b>\r\nBcc: x@y.z",
            "<a@b@c>",
            "<ä@b>",
        ] {
            let mut request = request();
            request.references = vec!["<ok@example.com>".to_owned(), bad.to_owned()];
            assert_eq!(
                rejection(request),
                ("invalid_message_id", Some("references[1]".to_owned())),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn thread_id_checked() {
        let mut request = request();
        request.thread_id = Some("18c2/../x".to_owned());
        assert_eq!(
            rejection(request),
            ("invalid_thread_id", Some("thread_id".to_owned()))
        );
    }

    fn with_attachment(filename: &str, content_type: &str, data: &str) -> SendMessageRequest {
        let mut request = request();
        request.attachments = vec![AttachmentRequest {
            filename: filename.to_owned(),
            content_type: content_type.to_owned(),
            data_base64: data.to_owned(),
        }];
        request
    }

    #[test]
    fn attachment_fields_checked() {
        let cases = [
            (
                with_attachment("../etc/passwd", "text/plain", "aGk="),
                "invalid_filename",
                "attachments[0].filename",
            ),
            (
                with_attachment("a\\b.txt", "text/plain", "aGk="),
                "invalid_filename",
                "attachments[0].filename",
            ),
            (
                with_attachment("a\r\nb.txt", "text/plain", "aGk="),
                "invalid_filename",
                "attachments[0].filename",
            ),
            (
                with_attachment(" ", "text/plain", "aGk="),
                "invalid_filename",
                "attachments[0].filename",
            ),
            (
                with_attachment("a.txt", "text", "aGk="),
                "invalid_content_type",
                "attachments[0].content_type",
            ),
            (
                with_attachment("a.txt", "multipart/mixed", "aGk="),
                "invalid_content_type",
                "attachments[0].content_type",
            ),
            (
                with_attachment("a.txt", "text/plain", "not base64!"),
                "invalid_attachment_data",
                "attachments[0].data_base64",
            ),
            (
                with_attachment("a.txt", "text/plain", "aGk=\n"),
                "invalid_attachment_data",
                "attachments[0].data_base64",
            ),
        ];
        for (request, code, field) in cases {
            assert_eq!(rejection(request), (code, Some(field.to_owned())));
        }
    }

    #[test]
    fn base64_padding_optional() {
        let draft = draft(
            "agent@acme-realty.com",
            with_attachment("a.txt", "text/plain", "aGk"),
        )
        .expect("valid");
        assert_eq!(draft.attachments[0].data, b"hi");
    }

    #[test]
    fn oversized_attachments_rejected_before_decoding() {
        let request = with_attachment(
            "big.bin",
            "application/octet-stream",
            &"A".repeat(MAX_MESSAGE_BYTES + 4),
        );
        let error = draft("agent@acme-realty.com", request).expect_err("too large");
        assert_eq!(error.code(), "message_too_large");
        assert_eq!(error.status(), axum::http::StatusCode::PAYLOAD_TOO_LARGE);
    }
}
