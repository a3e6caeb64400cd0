//! Request and response bodies of the message endpoints.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A mailbox: an address with an optional display name.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Address {
    /// Address such as `jane@example.com`; the domain may be internationalized.
    #[schema(example = "jane.buyer@example.com")]
    pub email: String,
    /// Display name; non-ASCII names are sent as RFC 2047 encoded-words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = "Jane Buyer")]
    pub name: Option<String>,
}

/// A file attached to a message.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AttachmentRequest {
    /// File name without folders; non-ASCII names are sent with RFC 2231 encoding.
    #[schema(example = "listing.pdf")]
    pub filename: String,
    /// MIME type such as `application/pdf`; `multipart/*` is rejected.
    #[schema(example = "application/pdf")]
    pub content_type: String,
    /// File content in standard base64 (RFC 4648 alphabet, padding optional, no line breaks).
    #[schema(example = "JVBERi0xLjQK")]
    pub data_base64: String,
}

/// Body of `POST /v1/brokerages/{brokerage_id}/users/{email}/messages`.
///
/// The sender is the agent named in the path. At least one recipient and one
/// of `text_body` and `html_body` are required.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendMessageRequest {
    /// `To` recipients.
    #[serde(default)]
    pub to: Vec<Address>,
    /// `Cc` recipients.
    #[serde(default)]
    pub cc: Vec<Address>,
    /// `Bcc` recipients; Gmail delivers to them and removes the header from the delivered copies.
    #[serde(default)]
    pub bcc: Vec<Address>,
    /// `Reply-To` mailboxes, when replies should go somewhere other than the agent.
    #[serde(default)]
    pub reply_to: Vec<Address>,
    /// Subject line, at most 998 characters; may be empty.
    #[schema(example = "Your showing on Saturday")]
    pub subject: String,
    /// Plain-text body.
    #[serde(default)]
    pub text_body: Option<String>,
    /// HTML body; sent with `text_body` as `multipart/alternative` when both are given.
    #[serde(default)]
    pub html_body: Option<String>,
    /// Files to attach.
    #[serde(default)]
    pub attachments: Vec<AttachmentRequest>,
    /// Gmail thread id to add the message to. Gmail threads it only when `in_reply_to` and
    /// `references` name messages of that thread and the subject matches the thread's.
    #[serde(default)]
    pub thread_id: Option<String>,
    /// `Message-ID` of the message this one replies to, such as `<abc@mail.gmail.com>`.
    #[serde(default)]
    pub in_reply_to: Option<String>,
    /// `Message-ID`s of earlier messages of the conversation, oldest first.
    #[serde(default)]
    pub references: Vec<String>,
}

/// A send as the gateway recorded it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MessageRecord {
    /// Gateway id of the send.
    #[schema(example = "3f1c2a7e-8d4b-4e55-9a39-0c6f2b8f1d20")]
    pub id: String,
    /// `sending` (the Gmail call has not returned yet), `sent`, `failed` (Gmail or the gateway
    /// rejected the send, so nothing was sent) or `unknown` (Gmail returned no usable response,
    /// so check the agent's Sent folder).
    #[schema(example = "sent")]
    pub status: String,
    /// Gmail's id of the sent message.
    pub gmail_message_id: Option<String>,
    /// Gmail's id of the thread the message belongs to.
    pub gmail_thread_id: Option<String>,
    /// Problem code of a `failed` or `unknown` send.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    /// Explanation of a `failed` or `unknown` send.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_detail: Option<String>,
    /// Time the send was requested (RFC 3339).
    pub created_at: String,
    /// Time of the last status change (RFC 3339).
    pub updated_at: String,
}
