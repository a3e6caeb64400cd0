//! Input checks of the contacts API. Every failure is a 400 problem naming the
//! field, such as `email_addresses[1].value`, and nothing reaches Google.

use axum::http::{HeaderMap, StatusCode};

use super::model::{
    Birthday, ContactName, ContactPatch, EmailAddress, ListQuery, NewContact, Organization,
    PhoneNumber, PostalAddress,
};
use crate::error::{ApiError, ApiResult};
use crate::validate::normalize_email;

/// Contacts per page when the caller names no size.
pub const DEFAULT_PAGE_SIZE: u32 = 100;

/// Largest page Google's `connections.list` returns.
pub const MAX_PAGE_SIZE: u32 = 1000;

/// Maximum length of a name part, label, organization or address field, in
/// characters. This is the gateway's own limit.
pub const MAX_TEXT_CHARS: usize = 1024;

/// Maximum length of the notes, in characters. This is the gateway's own limit.
pub const MAX_NOTES_CHARS: usize = 20_000;

/// Maximum number of values in one list field, such as `email_addresses`.
/// This is the gateway's own limit.
pub const MAX_VALUES: usize = 50;

/// Maximum length of a phone number, in characters.
const MAX_PHONE_CHARS: usize = 64;

/// Maximum length of a cursor sent back by a caller.
const MAX_CURSOR_CHARS: usize = 4096;

/// Longest People id accepted in a path.
const MAX_CONTACT_ID_CHARS: usize = 64;

/// A page request that passed the checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    /// Contacts per page.
    pub page_size: u32,
    /// Google page token.
    pub cursor: Option<String>,
}

/// Checks the list query.
pub fn page_request(query: ListQuery) -> ApiResult<PageRequest> {
    let page_size = query.page_size.unwrap_or(DEFAULT_PAGE_SIZE);
    if !(1..=MAX_PAGE_SIZE).contains(&page_size) {
        return Err(ApiError::invalid(
            "invalid_page_size",
            "page_size",
            format!("page_size must be between 1 and {MAX_PAGE_SIZE}; got {page_size}."),
        ));
    }

    let cursor = query.cursor.filter(|cursor| !cursor.is_empty());
    if let Some(cursor) = &cursor {
        let printable = cursor.chars().all(|c| c.is_ascii_graphic());
        if cursor.len() > MAX_CURSOR_CHARS || !printable {
            return Err(invalid_cursor());
        }
    }
    Ok(PageRequest { page_size, cursor })
}

/// Builds the 400 for a cursor that is malformed or that Google no longer accepts.
pub fn invalid_cursor() -> ApiError {
    ApiError::invalid(
        "invalid_cursor",
        "cursor",
        "The cursor is not one this API returned, or it expired; list again without a cursor, with the same page_size as the page that returned it.",
    )
}

/// Checks a contact id from the path: `c` followed by digits.
pub fn contact_id(raw: &str) -> ApiResult<&str> {
    let digits = raw.strip_prefix('c').unwrap_or_default();
    let valid = !digits.is_empty()
        && raw.len() <= MAX_CONTACT_ID_CHARS
        && digits.bytes().all(|byte| byte.is_ascii_digit());
    if !valid {
        return Err(ApiError::invalid(
            "invalid_contact_id",
            "contact_id",
            format!("{raw:?} is not a contact id; ids are `c` followed by digits, such as c1234567890, as returned in `id`."),
        ));
    }
    Ok(raw)
}

/// Checks a contact to create.
pub fn new_contact(contact: &NewContact) -> ApiResult<()> {
    let has_value = contact
        .names
        .as_ref()
        .is_some_and(|name| !name_is_empty(name))
        || !contact.email_addresses.is_empty()
        || !contact.phone_numbers.is_empty()
        || !contact.postal_addresses.is_empty()
        || !contact.organizations.is_empty()
        || contact.birthday.is_some()
        || contact
            .notes
            .as_deref()
            .is_some_and(|notes| !notes.is_empty());
    if !has_value {
        return Err(ApiError::invalid(
            "empty_contact",
            "names",
            "A contact needs at least one value: a name, an email address, a phone number, an address, an organization, a birthday or notes.",
        ));
    }

    check_name(contact.names.as_ref())?;
    check_emails(&contact.email_addresses)?;
    check_phones(&contact.phone_numbers)?;
    check_addresses(&contact.postal_addresses)?;
    check_organizations(&contact.organizations)?;
    check_birthday(contact.birthday.as_ref())?;
    check_notes(contact.notes.as_deref())
}

/// Checks a patch: at least one field, each present field valid.
pub fn patch(patch: &ContactPatch) -> ApiResult<()> {
    let changes_something = patch.names.is_some()
        || patch.email_addresses.is_some()
        || patch.phone_numbers.is_some()
        || patch.postal_addresses.is_some()
        || patch.organizations.is_some()
        || patch.birthday.is_some()
        || patch.notes.is_some();
    if !changes_something {
        return Err(ApiError::invalid(
            "empty_patch",
            "body",
            "The patch changes no field; send at least one of names, email_addresses, phone_numbers, postal_addresses, organizations, birthday or notes.",
        ));
    }

    check_name(patch.names.as_ref().and_then(Option::as_ref))?;
    check_emails(flatten(&patch.email_addresses))?;
    check_phones(flatten(&patch.phone_numbers))?;
    check_addresses(flatten(&patch.postal_addresses))?;
    check_organizations(flatten(&patch.organizations))?;
    check_birthday(patch.birthday.and_then(|birthday| birthday).as_ref())?;
    check_notes(patch.notes.as_ref().and_then(Option::as_deref))
}

fn flatten<T>(field: &Option<Option<Vec<T>>>) -> &[T] {
    field
        .as_ref()
        .and_then(Option::as_deref)
        .unwrap_or_default()
}

/// The etag a PATCH must carry, from the body or `If-Match`; 428 when neither
/// has one, 400 when they differ.
pub fn required_etag(body_etag: Option<&str>, headers: &HeaderMap) -> ApiResult<String> {
    let header_etag = if_match(headers)?;
    let body_etag = body_etag.filter(|etag| !etag.is_empty());

    match (body_etag, header_etag) {
        (Some(body), Some(header)) if body != header => Err(ApiError::invalid(
            "etag_conflict",
            "etag",
            "The body's etag and the If-Match header differ; send one of them.",
        )),
        (Some(etag), _) => Ok(etag.to_owned()),
        (None, Some(etag)) => Ok(etag),
        (None, None) => Err(ApiError::new(
            StatusCode::PRECONDITION_REQUIRED,
            "etag_required",
            "Updating a contact needs its current etag, so a change made meanwhile in Google is not overwritten: send `etag` in the body or an If-Match header with the etag from the last read.",
        )
        .with_field("etag")),
    }
}

/// Reads `If-Match`, with or without quotes; `*` and lists are rejected
/// because Google's update needs the one current etag.
fn if_match(headers: &HeaderMap) -> ApiResult<Option<String>> {
    let Some(value) = headers.get(axum::http::header::IF_MATCH) else {
        return Ok(None);
    };

    let invalid = || {
        ApiError::invalid(
            "invalid_if_match",
            "If-Match",
            "If-Match must hold the contact's one etag, as returned in `etag` or the ETag header.",
        )
    };
    let text = value.to_str().map_err(|_| invalid())?.trim();
    let unquoted = text.strip_prefix("W/").unwrap_or(text).trim_matches('"');
    if unquoted.is_empty() || unquoted == "*" || unquoted.contains(['"', ',']) {
        return Err(invalid());
    }
    Ok(Some(unquoted.to_owned()))
}

fn name_is_empty(name: &ContactName) -> bool {
    [
        &name.given_name,
        &name.family_name,
        &name.middle_name,
        &name.display_name,
    ]
    .iter()
    .all(|part| part.as_deref().unwrap_or_default().is_empty())
}

fn check_name(name: Option<&ContactName>) -> ApiResult<()> {
    let Some(name) = name else {
        return Ok(());
    };

    check_text("names.given_name", name.given_name.as_deref())?;
    check_text("names.family_name", name.family_name.as_deref())?;
    check_text("names.middle_name", name.middle_name.as_deref())?;
    check_text("names.display_name", name.display_name.as_deref())
}

fn check_emails(emails: &[EmailAddress]) -> ApiResult<()> {
    check_count("email_addresses", emails.len())?;

    for (index, email) in emails.iter().enumerate() {
        let field = format!("email_addresses[{index}]");
        if normalize_email(&email.value).is_none() {
            return Err(ApiError::invalid(
                "invalid_email",
                format!("{field}.value"),
                format!(
                    "{:?} is not a valid email address such as jane@example.com.",
                    email.value
                ),
            ));
        }
        check_text(&format!("{field}.type"), email.kind.as_deref())?;
    }
    Ok(())
}

fn check_phones(phones: &[PhoneNumber]) -> ApiResult<()> {
    check_count("phone_numbers", phones.len())?;

    for (index, phone) in phones.iter().enumerate() {
        let field = format!("phone_numbers[{index}]");
        if !is_phone_number(&phone.value) {
            return Err(ApiError::invalid(
                "invalid_phone_number",
                format!("{field}.value"),
                format!(
                    "{:?} is not a phone number: use up to {MAX_PHONE_CHARS} characters of digits, letters, spaces and + - . ( ) / # * , ;",
                    phone.value
                ),
            ));
        }
        check_text(&format!("{field}.type"), phone.kind.as_deref())?;
    }
    Ok(())
}

fn is_phone_number(value: &str) -> bool {
    let allowed = |c: char| c.is_ascii_alphanumeric() || " +-.()/#*,;".contains(c);
    value.chars().count() <= MAX_PHONE_CHARS
        && value.chars().any(|c| c.is_ascii_digit())
        && value.chars().all(allowed)
}

fn check_addresses(addresses: &[PostalAddress]) -> ApiResult<()> {
    check_count("postal_addresses", addresses.len())?;

    for (index, address) in addresses.iter().enumerate() {
        let field = format!("postal_addresses[{index}]");
        let parts = [
            ("street_address", &address.street_address),
            ("city", &address.city),
            ("region", &address.region),
            ("postal_code", &address.postal_code),
            ("country", &address.country),
            ("type", &address.kind),
        ];
        for (name, value) in parts {
            check_text(&format!("{field}.{name}"), value.as_deref())?;
        }
    }
    Ok(())
}

fn check_organizations(organizations: &[Organization]) -> ApiResult<()> {
    check_count("organizations", organizations.len())?;

    for (index, organization) in organizations.iter().enumerate() {
        let field = format!("organizations[{index}]");
        check_text(&format!("{field}.name"), organization.name.as_deref())?;
        check_text(&format!("{field}.title"), organization.title.as_deref())?;
        check_text(
            &format!("{field}.department"),
            organization.department.as_deref(),
        )?;
    }
    Ok(())
}

fn check_birthday(birthday: Option<&Birthday>) -> ApiResult<()> {
    let Some(birthday) = birthday else {
        return Ok(());
    };

    if let Some(year) = birthday.year {
        if !(1..=9999).contains(&year) {
            return Err(invalid_birthday(
                "birthday.year",
                format!("year must be between 1 and 9999; got {year}."),
            ));
        }
    }
    if !(1..=12).contains(&birthday.month) {
        return Err(invalid_birthday(
            "birthday.month",
            format!("month must be between 1 and 12; got {}.", birthday.month),
        ));
    }

    let last_day = days_in_month(birthday.year, birthday.month);
    if !(1..=last_day).contains(&birthday.day) {
        return Err(invalid_birthday(
            "birthday.day",
            format!(
                "day must be between 1 and {last_day} for month {}; got {}.",
                birthday.month, birthday.day
            ),
        ));
    }
    Ok(())
}

fn invalid_birthday(field: &str, detail: String) -> ApiError {
    ApiError::invalid("invalid_birthday", field, detail)
}

/// Days in `month`; February has 29 when the year is unknown.
fn days_in_month(year: Option<i32>, month: u32) -> u32 {
    match month {
        2 => match year {
            Some(year) if !is_leap_year(year) => 28,
            _ => 29,
        },
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

fn is_leap_year(year: i32) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn check_notes(notes: Option<&str>) -> ApiResult<()> {
    let Some(notes) = notes else {
        return Ok(());
    };

    if notes.chars().count() > MAX_NOTES_CHARS {
        return Err(ApiError::invalid(
            "text_too_long",
            "notes",
            format!("notes may have at most {MAX_NOTES_CHARS} characters."),
        ));
    }
    if notes
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err(invalid_text("notes"));
    }
    Ok(())
}

fn check_text(field: &str, value: Option<&str>) -> ApiResult<()> {
    let Some(value) = value else {
        return Ok(());
    };

    if value.chars().count() > MAX_TEXT_CHARS {
        return Err(ApiError::invalid(
            "text_too_long",
            field,
            format!("{field} may have at most {MAX_TEXT_CHARS} characters."),
        ));
    }
    if value.chars().any(|c| c.is_control() && c != '\n') {
        return Err(invalid_text(field));
    }
    Ok(())
}

fn invalid_text(field: &str) -> ApiError {
    ApiError::invalid(
        "invalid_text",
        field,
        format!("{field} contains control characters; remove them."),
    )
}

fn check_count(field: &str, count: usize) -> ApiResult<()> {
    if count > MAX_VALUES {
        return Err(ApiError::invalid(
            "too_many_values",
            field,
            format!("{field} may have at most {MAX_VALUES} entries; got {count}."),
        ));
    }
    Ok(())
}
