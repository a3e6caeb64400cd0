//! Builds the RFC 5322 message that Gmail sends, with lettre.
//!
//! lettre writes non-ASCII subjects and display names as RFC 2047 encoded-words,
//! non-ASCII attachment names with RFC 2231 parameter encoding, folds long header
//! lines and picks 7bit, quoted-printable or base64 per body part. Text plus HTML
//! becomes `multipart/alternative`; attachments wrap the body in `multipart/mixed`.
//! Bodies decode to the exact text sent, except that lettre turns bare LF line
//! breaks into the CRLF that RFC 5322 requires. Attachment bytes are kept as is.

use lettre::message::header::{self, ContentType};
use lettre::message::{Attachment, Mailbox, MessageBuilder, MultiPart, SinglePart};

/// Gmail's maximum size of a sent message in bytes (35 MiB), as its API
/// discovery document states for the `users.messages.send` media upload.
pub const MAX_MESSAGE_BYTES: usize = 36_700_160;

/// A checked message, ready to be rendered.
#[derive(Debug, Clone)]
pub struct Draft {
    /// The agent sending the message.
    pub from: Mailbox,
    /// `To` mailboxes.
    pub to: Vec<Mailbox>,
    /// `Cc` mailboxes.
    pub cc: Vec<Mailbox>,
    /// `Bcc` mailboxes, kept in the rendered message because Gmail takes the
    /// recipients from the headers.
    pub bcc: Vec<Mailbox>,
    /// `Reply-To` mailboxes.
    pub reply_to: Vec<Mailbox>,
    /// Subject line without CR or LF.
    pub subject: String,
    /// Text and/or HTML body.
    pub body: DraftBody,
    /// Decoded attachments.
    pub attachments: Vec<DraftAttachment>,
    /// `In-Reply-To` message id, angle brackets included.
    pub in_reply_to: Option<String>,
    /// `References` message ids, angle brackets included.
    pub references: Vec<String>,
}

/// The body of a [`Draft`]: at least one of a plain-text and an HTML version.
#[derive(Debug, Clone)]
pub enum DraftBody {
    /// Plain text only.
    Text(String),
    /// HTML only.
    Html(String),
    /// Both, sent as `multipart/alternative` with the plain text first.
    Alternative {
        /// Plain-text version.
        text: String,
        /// HTML version.
        html: String,
    },
}

/// A decoded attachment of a [`Draft`].
#[derive(Debug, Clone)]
pub struct DraftAttachment {
    /// File name without folders.
    pub filename: String,
    /// MIME type of the content.
    pub content_type: ContentType,
    /// File content.
    pub data: Vec<u8>,
}

/// Renders `draft` as an RFC 5322 message with CRLF line endings.
///
/// Takes the draft by value so attachment bytes are moved, not copied. Fails
/// only when the draft has no recipient, which validation rules out.
pub fn render(draft: Draft) -> Result<Vec<u8>, lettre::error::Error> {
    let builder = headers(&draft);
    let Draft {
        body, attachments, ..
    } = draft;
    let body = body_part(body);

    let message = match (body, attachments.is_empty()) {
        // A top-level `SinglePart` would gain a trailing CRLF in its body, so a
        // lone text or HTML body is written as the message body itself.
        (Body::Single(content_type, text), true) => builder
            .header(header::MIME_VERSION_1_0)
            .header(content_type)
            .body(text)?,
        (Body::Multi(part), true) => builder.multipart(part)?,
        (body, false) => {
            let mut mixed = match body {
                Body::Single(content_type, text) => MultiPart::mixed()
                    .singlepart(SinglePart::builder().header(content_type).body(text)),
                Body::Multi(part) => MultiPart::mixed().multipart(part),
            };
            for attachment in attachments {
                mixed = mixed.singlepart(attachment_part(attachment));
            }
            builder.multipart(mixed)?
        }
    };

    Ok(message.formatted())
}

fn headers(draft: &Draft) -> MessageBuilder {
    let mut builder = lettre::Message::builder()
        .from(draft.from.clone())
        .subject(draft.subject.clone())
        .keep_bcc();

    for mailbox in &draft.to {
        builder = builder.to(mailbox.clone());
    }
    for mailbox in &draft.cc {
        builder = builder.cc(mailbox.clone());
    }
    for mailbox in &draft.bcc {
        builder = builder.bcc(mailbox.clone());
    }
    for mailbox in &draft.reply_to {
        builder = builder.reply_to(mailbox.clone());
    }

    if let Some(message_id) = &draft.in_reply_to {
        builder = builder.in_reply_to(message_id.clone());
    }
    // lettre replaces rather than appends a repeated `References` header, so
    // all ids go into one space-separated value.
    if !draft.references.is_empty() {
        builder = builder.references(draft.references.join(" "));
    }

    builder
}

enum Body {
    Single(ContentType, String),
    Multi(MultiPart),
}

fn body_part(body: DraftBody) -> Body {
    match body {
        DraftBody::Text(text) => Body::Single(ContentType::TEXT_PLAIN, text),
        DraftBody::Html(html) => Body::Single(ContentType::TEXT_HTML, html),
        DraftBody::Alternative { text, html } => {
            Body::Multi(MultiPart::alternative_plain_html(text, html))
        }
    }
}

fn attachment_part(attachment: DraftAttachment) -> SinglePart {
    Attachment::new(attachment.filename).body(attachment.data, attachment.content_type)
}

#[cfg(test)]
mod tests {
    use super::*;
    use mail_parser::{Address, MessageParser, MimeHeaders};

    fn mailbox(name: Option<&str>, email: &str) -> Mailbox {
        Mailbox::new(
            name.map(str::to_owned),
            email.parse().expect("test address"),
        )
    }

    fn draft(body: DraftBody) -> Draft {
        Draft {
            from: mailbox(None, "agent@acme-realty.com"),
            to: vec![mailbox(Some("Jane Buyer"), "jane@example.com")],
            cc: vec![],
            bcc: vec![],
            reply_to: vec![],
            subject: "Your showing".to_owned(),
            body,
            attachments: vec![],
            in_reply_to: None,
            references: vec![],
        }
    }

    fn header_section(raw: &[u8]) -> &[u8] {
        let end = raw
            .windows(4)
            .position(|window| window == b"\r\n\r\n")
            .expect("header section ends with an empty line");
        &raw[..end]
    }

    fn addresses(address: Option<&Address<'_>>) -> Vec<(Option<String>, String)> {
        address
            .map(|address| {
                address
                    .iter()
                    .map(|addr| {
                        (
                            addr.name().map(str::to_owned),
                            addr.address().unwrap_or_default().to_owned(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    #[test]
    fn plain_text_round_trips() {
        let text = "Hello Jane,\r\n\r\nThe showing is at 10:00.\r\n-- \r\nAgent";
        let raw = render(draft(DraftBody::Text(text.to_owned()))).expect("renders");
        let parsed = MessageParser::default().parse(&raw).expect("parses");

        assert_eq!(parsed.subject(), Some("Your showing"));
        assert_eq!(
            addresses(parsed.from()),
            vec![(None, "agent@acme-realty.com".to_owned())]
        );
        assert_eq!(
            addresses(parsed.to()),
            vec![(Some("Jane Buyer".to_owned()), "jane@example.com".to_owned())]
        );
        assert_eq!(parsed.body_text(0).as_deref(), Some(text));
        let content_type = parsed.content_type().expect("content type");
        assert_eq!(content_type.ctype(), "text");
        assert_eq!(content_type.subtype(), Some("plain"));
        assert!(parsed.date().is_some());
    }

    #[test]
    fn output_is_ascii_with_crlf() {
        let mut message = draft(DraftBody::Text("Grüße aus Köln\nzweite Zeile".to_owned()));
        message.subject = "Besichtigung in Köln".to_owned();
        let raw = render(message).expect("renders");

        assert!(
            raw.is_ascii(),
            "every part is 7bit, quoted-printable or base64"
        );
        for (index, byte) in raw.iter().enumerate() {
            if *byte == b'\n' {
                assert!(
                    index > 0 && raw[index - 1] == b'\r',
                    "bare LF at byte {index}"
                );
            }
        }
    }

    #[test]
    fn non_ascii_headers_are_encoded_words() {
        let mut message = draft(DraftBody::Text("Hi".to_owned()));
        message.subject = "Besichtigung am Sonnabend – Köln 🏠".to_owned();
        message.to = vec![mailbox(Some("Zoë Müller"), "zoe@example.com")];
        message.cc = vec![mailbox(Some("Doe, \"JJ\" Jane"), "jj@example.com")];
        message.reply_to = vec![mailbox(Some("李小龍"), "office@acme-realty.com")];
        let raw = render(message).expect("renders");

        let headers = String::from_utf8(header_section(&raw).to_vec()).expect("ASCII headers");
        assert!(headers.contains("=?utf-8?b?"), "{headers}");
        assert!(!headers.contains("Köln"));

        let parsed = MessageParser::default().parse(&raw).expect("parses");
        assert_eq!(
            parsed.subject(),
            Some("Besichtigung am Sonnabend – Köln 🏠")
        );
        assert_eq!(
            addresses(parsed.to()),
            vec![(Some("Zoë Müller".to_owned()), "zoe@example.com".to_owned())]
        );
        assert_eq!(
            addresses(parsed.cc()),
            vec![(
                Some("Doe, \"JJ\" Jane".to_owned()),
                "jj@example.com".to_owned()
            )]
        );
        assert_eq!(
            addresses(parsed.reply_to()),
            vec![(
                Some("李小龍".to_owned()),
                "office@acme-realty.com".to_owned()
            )]
        );
    }

    #[test]
    fn long_subject_is_folded_and_round_trips() {
        let mut message = draft(DraftBody::Text("Hi".to_owned()));
        let subject = "Offer update for 123 Main Street ".repeat(20);
        message.subject = subject.trim_end().to_owned();
        let raw = render(message).expect("renders");

        let headers = String::from_utf8(header_section(&raw).to_vec()).expect("ASCII headers");
        assert!(headers.split("\r\n").all(|line| line.len() <= 998));

        let parsed = MessageParser::default().parse(&raw).expect("parses");
        assert_eq!(parsed.subject(), Some(subject.trim_end()));
    }

    #[test]
    fn bcc_is_kept_for_gmail() {
        let mut message = draft(DraftBody::Text("Hi".to_owned()));
        message.bcc = vec![
            mailbox(None, "hidden@example.com"),
            mailbox(Some("Broker"), "broker@acme-realty.com"),
        ];
        let raw = render(message).expect("renders");
        let parsed = MessageParser::default().parse(&raw).expect("parses");

        assert_eq!(
            addresses(parsed.bcc()),
            vec![
                (None, "hidden@example.com".to_owned()),
                (
                    Some("Broker".to_owned()),
                    "broker@acme-realty.com".to_owned()
                ),
            ]
        );
    }

    #[test]
    fn text_and_html_are_alternative() {
        let text = "Plain version with a long line: ".to_owned() + &"x".repeat(1200);
        let html = "<p>HTML version – <b>bold</b></p>\r\n<p>second</p>";
        let raw = render(draft(DraftBody::Alternative {
            text: text.clone(),
            html: html.to_owned(),
        }))
        .expect("renders");
        let parsed = MessageParser::default().parse(&raw).expect("parses");

        let content_type = parsed.content_type().expect("content type");
        assert_eq!(content_type.ctype(), "multipart");
        assert_eq!(content_type.subtype(), Some("alternative"));
        assert_eq!(parsed.body_text(0).as_deref(), Some(text.as_str()));
        assert_eq!(parsed.body_html(0).as_deref(), Some(html));
        assert_eq!(parsed.attachment_count(), 0);
    }

    #[test]
    fn bare_lf_becomes_crlf() {
        let raw = render(draft(DraftBody::Text("one\ntwo\n".to_owned()))).expect("renders");
        let parsed = MessageParser::default().parse(&raw).expect("parses");

        assert_eq!(parsed.body_text(0).as_deref(), Some("one\r\ntwo\r\n"));
    }

    #[test]
    fn html_only_is_single_part() {
        let html = "<p>Only HTML</p>";
        let raw = render(draft(DraftBody::Html(html.to_owned()))).expect("renders");
        let parsed = MessageParser::default().parse(&raw).expect("parses");

        let content_type = parsed.content_type().expect("content type");
        assert_eq!(content_type.ctype(), "text");
        assert_eq!(content_type.subtype(), Some("html"));
        assert_eq!(parsed.body_html(0).as_deref(), Some(html));
    }

    #[test]
    fn attachments_are_mixed_with_names_and_bytes() {
        let binary: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
        let mut message = draft(DraftBody::Alternative {
            text: "See attached.".to_owned(),
            html: "<p>See attached.</p>".to_owned(),
        });
        message.attachments = vec![
            DraftAttachment {
                filename: "listing.pdf".to_owned(),
                content_type: ContentType::parse("application/pdf").expect("type"),
                data: binary.clone(),
            },
            DraftAttachment {
                filename: "Exposé Köln – Wohnung \"A\".txt".to_owned(),
                content_type: ContentType::parse("text/plain; charset=utf-8").expect("type"),
                data: "Grundriss\n".as_bytes().to_vec(),
            },
        ];
        let raw = render(message).expect("renders");

        let headers = String::from_utf8(raw.clone()).expect("ASCII message");
        assert!(
            headers.contains("filename*0*=utf-8''"),
            "RFC 2231 file name"
        );

        let parsed = MessageParser::default().parse(&raw).expect("parses");
        let content_type = parsed.content_type().expect("content type");
        assert_eq!(content_type.ctype(), "multipart");
        assert_eq!(content_type.subtype(), Some("mixed"));
        assert_eq!(parsed.body_text(0).as_deref(), Some("See attached."));
        assert_eq!(parsed.body_html(0).as_deref(), Some("<p>See attached.</p>"));

        let attachments: Vec<_> = parsed.attachments().collect();
        assert_eq!(attachments.len(), 2);
        assert_eq!(attachments[0].attachment_name(), Some("listing.pdf"));
        assert_eq!(attachments[0].contents(), binary.as_slice());
        let pdf_type = attachments[0].content_type().expect("content type");
        assert_eq!(
            (pdf_type.ctype(), pdf_type.subtype()),
            ("application", Some("pdf"))
        );
        assert_eq!(
            attachments[1].attachment_name(),
            Some("Exposé Köln – Wohnung \"A\".txt")
        );
        assert_eq!(attachments[1].contents(), "Grundriss\n".as_bytes());
    }

    #[test]
    fn text_with_attachment_is_mixed() {
        let text = "Anbei das Exposé.\r\nGrüße";
        let mut message = draft(DraftBody::Text(text.to_owned()));
        message.attachments = vec![DraftAttachment {
            filename: "plan.png".to_owned(),
            content_type: ContentType::parse("image/png").expect("type"),
            data: vec![0x89, b'P', b'N', b'G', 0, 0xff],
        }];
        let raw = render(message).expect("renders");
        let parsed = MessageParser::default().parse(&raw).expect("parses");

        let content_type = parsed.content_type().expect("content type");
        assert_eq!(content_type.subtype(), Some("mixed"));
        assert_eq!(parsed.body_text(0).as_deref(), Some(text));
        let attachment = parsed.attachment(0).expect("attachment");
        assert_eq!(attachment.attachment_name(), Some("plan.png"));
        assert_eq!(attachment.contents(), &[0x89, b'P', b'N', b'G', 0, 0xff]);
    }

    #[test]
    fn reply_headers_are_written() {
        let mut message = draft(DraftBody::Text("Thanks!".to_owned()));
        message.in_reply_to = Some("<CAB2@mail.gmail.com>".to_owned());
        message.references = vec![
            "<CAB1@mail.gmail.com>".to_owned(),
            "<CAB2@mail.gmail.com>".to_owned(),
        ];
        let raw = render(message).expect("renders");
        let parsed = MessageParser::default().parse(&raw).expect("parses");

        assert_eq!(
            parsed.in_reply_to().as_text_list(),
            Some(&["CAB2@mail.gmail.com".into()][..])
        );
        assert_eq!(
            parsed.references().as_text_list(),
            Some(&["CAB1@mail.gmail.com".into(), "CAB2@mail.gmail.com".into()][..])
        );
    }
}
