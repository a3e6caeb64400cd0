//! Contact storage for the People API: validation of Person JSON, field masks, etags, and
//! rendering of stored contacts the way `people.googleapis.com` returns them.

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Map, Value};

use crate::errors::GoogleError;
use crate::keys::{random_digits, random_hex, random_token};

/// Person fields a `personFields` mask may name.
pub const PERSON_FIELDS: &[&str] = &[
    "addresses",
    "ageRanges",
    "biographies",
    "birthdays",
    "calendarUrls",
    "clientData",
    "coverPhotos",
    "emailAddresses",
    "events",
    "externalIds",
    "genders",
    "imClients",
    "interests",
    "locales",
    "locations",
    "memberships",
    "metadata",
    "miscKeywords",
    "names",
    "nicknames",
    "occupations",
    "organizations",
    "phoneNumbers",
    "photos",
    "relations",
    "sipAddresses",
    "skills",
    "urls",
    "userDefined",
];

/// Person fields a contact write may set (`updatePersonFields`).
pub const UPDATABLE_FIELDS: &[&str] = &[
    "addresses",
    "biographies",
    "birthdays",
    "calendarUrls",
    "clientData",
    "emailAddresses",
    "events",
    "externalIds",
    "genders",
    "imClients",
    "interests",
    "locales",
    "locations",
    "memberships",
    "miscKeywords",
    "names",
    "nicknames",
    "occupations",
    "organizations",
    "phoneNumbers",
    "relations",
    "sipAddresses",
    "urls",
    "userDefined",
];

/// Fields that allow one value per source.
const SINGLE_VALUE_FIELDS: &[&str] = &["names", "birthdays", "genders"];

/// Contacts a user may hold.
pub const MAX_CONTACTS: usize = 25_000;

/// A user's contacts, deleted ones included as tombstones for incremental sync.
#[derive(Debug, Default)]
pub struct ContactBook {
    /// Contacts by resource name (`people/c...`).
    pub contacts: BTreeMap<String, Contact>,
    /// Raised to invalidate every sync token issued before.
    pub sync_epoch: u64,
}

impl ContactBook {
    /// Returns a live (not deleted) contact.
    pub fn live(&self, resource_name: &str) -> Option<&Contact> {
        self.contacts
            .get(resource_name)
            .filter(|contact| !contact.deleted)
    }

    /// Counts live contacts.
    pub fn live_count(&self) -> usize {
        self.contacts
            .values()
            .filter(|contact| !contact.deleted)
            .count()
    }
}

/// A stored contact.
#[derive(Debug, Clone)]
pub struct Contact {
    /// `people/c` followed by 19 digits.
    pub resource_name: String,
    /// Id of the CONTACT source (hex).
    pub source_id: String,
    /// Person etag, changed by every write.
    pub etag: String,
    /// Etag of the CONTACT source, changed by every write.
    pub source_etag: String,
    /// Person fields (arrays of field objects without their `metadata`).
    pub fields: Map<String, Value>,
    /// Time of the last change.
    pub updated: DateTime<Utc>,
    /// Change sequence number of the last change.
    pub seq: u64,
    /// Deleted contacts stay as tombstones for sync.
    pub deleted: bool,
}

impl Contact {
    /// Creates a contact from validated fields.
    pub fn new(fields: Map<String, Value>, now: DateTime<Utc>, seq: u64) -> Self {
        let mut contact = Self {
            resource_name: format!("people/c{}", random_digits(19)),
            source_id: random_hex(16),
            etag: String::new(),
            source_etag: String::new(),
            fields,
            updated: now,
            seq,
            deleted: false,
        };
        contact.touch(now, seq);
        contact
    }

    /// Records a change: new etags, time and sequence number.
    pub fn touch(&mut self, now: DateTime<Utc>, seq: u64) {
        self.etag = format!("%{}", random_token(32));
        self.source_etag = format!("#{}", random_token(16));
        self.updated = now;
        self.seq = seq;
    }

    /// Renders the Person JSON limited to `mask` (all fields when `None`).
    pub fn render(&self, mask: Option<&[String]>) -> Value {
        let mut person = Map::new();
        person.insert("resourceName".into(), json!(self.resource_name));
        person.insert("etag".into(), json!(self.etag));

        if self.deleted {
            let mut metadata = self.render_metadata();
            metadata["deleted"] = json!(true);
            person.insert("metadata".into(), metadata);
            return Value::Object(person);
        }

        let requested = |field: &str| mask.is_none_or(|mask| mask.iter().any(|m| m == field));
        if requested("metadata") {
            person.insert("metadata".into(), self.render_metadata());
        }
        for (field, items) in &self.fields {
            if !requested(field) {
                continue;
            }
            if let Some(items) = items.as_array() {
                if !items.is_empty() {
                    person.insert(field.clone(), Value::Array(self.render_items(field, items)));
                }
            }
        }
        Value::Object(person)
    }

    fn render_metadata(&self) -> Value {
        json!({
            "sources": [{
                "type": "CONTACT",
                "id": self.source_id,
                "etag": self.source_etag,
                "updateTime": self.updated.to_rfc3339_opts(SecondsFormat::Micros, true),
            }],
            "objectType": "PERSON",
        })
    }

    fn render_items(&self, field: &str, items: &[Value]) -> Vec<Value> {
        items
            .iter()
            .enumerate()
            .map(|(index, item)| {
                let mut item = item.clone();
                decorate_item(field, &mut item);
                item["metadata"] = json!({
                    "primary": index == 0,
                    "sourcePrimary": index == 0,
                    "source": {"type": "CONTACT", "id": self.source_id},
                });
                item
            })
            .collect()
    }
}

/// Adds the values Google derives from what the client set: display names, formatted types.
fn decorate_item(field: &str, item: &mut Value) {
    let Some(object) = item.as_object_mut() else {
        return;
    };

    if let Some(kind) = object.get("type").and_then(Value::as_str) {
        if !object.contains_key("formattedType") {
            let formatted = capitalize(kind);
            object.insert("formattedType".into(), json!(formatted));
        }
    }

    match field {
        "names" => decorate_name(object),
        "biographies" => {
            object
                .entry("contentType")
                .or_insert_with(|| json!("TEXT_PLAIN"));
        }
        "phoneNumbers" => {
            if let Some(value) = object.get("value").and_then(Value::as_str) {
                if value.starts_with('+') && !object.contains_key("canonicalForm") {
                    let canonical: String = value
                        .chars()
                        .filter(|c| c.is_ascii_digit() || *c == '+')
                        .collect();
                    object.insert("canonicalForm".into(), json!(canonical));
                }
            }
        }
        _ => {}
    }
}

fn decorate_name(name: &mut Map<String, Value>) {
    let part = |key: &str| {
        name.get(key)
            .and_then(Value::as_str)
            .filter(|value| !value.is_empty())
            .map(str::to_string)
    };
    let given = part("givenName");
    let middle = part("middleName");
    let family = part("familyName");

    let display: Vec<String> = [given.clone(), middle, family.clone()]
        .into_iter()
        .flatten()
        .collect();
    if display.is_empty() {
        return;
    }
    let display = display.join(" ");
    let last_first = match (&family, &given) {
        (Some(family), Some(given)) => format!("{family}, {given}"),
        _ => display.clone(),
    };

    name.entry("displayName").or_insert_with(|| json!(display));
    name.entry("displayNameLastFirst")
        .or_insert_with(|| json!(last_first));
    name.entry("unstructuredName")
        .or_insert_with(|| json!(display));
}

fn capitalize(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Parses a field mask such as `personFields=names,emailAddresses`.
pub fn parse_mask(
    raw: Option<&str>,
    parameter: &str,
    allowed: &[&str],
    doc_path: &str,
) -> Result<Option<Vec<String>>, GoogleError> {
    let Some(raw) = raw.filter(|raw| !raw.trim().is_empty()) else {
        return Ok(None);
    };
    let mut fields = Vec::new();
    for path in raw
        .split(',')
        .map(str::trim)
        .filter(|path| !path.is_empty())
    {
        let field = path.strip_prefix("person.").unwrap_or(path);
        if !allowed.contains(&field) {
            return Err(GoogleError::invalid_argument(format!(
                "Invalid {parameter} mask path: \"{path}\". Valid paths are documented at https://developers.google.com/people/api/rest/v1/{doc_path}."
            )));
        }
        fields.push(field.to_string());
    }
    Ok(Some(fields))
}

/// Builds the 400 for a missing mask parameter.
pub fn mask_required(parameter: &str, doc_path: &str) -> GoogleError {
    GoogleError::invalid_argument(format!(
        "{parameter} mask is required. Please specify one or more valid paths. Valid paths are documented at https://developers.google.com/people/api/rest/v1/{doc_path}."
    ))
}

/// Validates a Person request body and returns its writable fields, item metadata removed.
pub fn person_fields_from_body(body: &Value) -> Result<Map<String, Value>, GoogleError> {
    let Some(object) = body.as_object() else {
        return Err(invalid_payload(
            "Invalid JSON payload received. Expected an object for 'person'.",
            "person",
        ));
    };

    let mut fields = Map::new();
    for (key, value) in object {
        if ["resourceName", "etag", "metadata"].contains(&key.as_str()) {
            continue;
        }
        if !PERSON_FIELDS.contains(&key.as_str()) {
            return Err(invalid_payload(
                &format!(
                    "Invalid JSON payload received. Unknown name \"{key}\" at 'person': Cannot find field."
                ),
                "person",
            ));
        }
        if !UPDATABLE_FIELDS.contains(&key.as_str()) {
            continue;
        }
        fields.insert(key.clone(), validate_items(key, value)?);
    }
    Ok(fields)
}

fn validate_items(field: &str, value: &Value) -> Result<Value, GoogleError> {
    if value.is_null() {
        return Ok(Value::Array(Vec::new()));
    }
    let Some(items) = value.as_array() else {
        return Err(invalid_payload(
            &format!(
                "Invalid JSON payload received. Proto field is not repeating, cannot start list. Invalid value at 'person.{field}'."
            ),
            &format!("person.{field}"),
        ));
    };
    if SINGLE_VALUE_FIELDS.contains(&field) && items.len() > 1 {
        // NOTE: Google rejects a second name, birthday or gender per source; this wording is
        // the emulator's own.
        return Err(GoogleError::invalid_argument(format!(
            "Only one value is allowed for person.{field} per source."
        )));
    }

    let mut cleaned = Vec::with_capacity(items.len());
    for item in items {
        let Some(object) = item.as_object() else {
            return Err(invalid_payload(
                &format!(
                    "Invalid JSON payload received. Invalid value at 'person.{field}': expected an object."
                ),
                &format!("person.{field}"),
            ));
        };
        let mut object = object.clone();
        object.remove("metadata");
        cleaned.push(Value::Object(object));
    }
    Ok(Value::Array(cleaned))
}

/// 400 INVALID_ARGUMENT with a `google.rpc.BadRequest` field violation, as Google sends for a
/// request body that does not match the schema.
pub fn invalid_payload(message: &str, field: &str) -> GoogleError {
    GoogleError::invalid_argument(message).detail(json!({
        "@type": "type.googleapis.com/google.rpc.BadRequest",
        "fieldViolations": [{"field": field, "description": message}],
    }))
}

/// Adds the default "myContacts" group membership that Google gives every new contact.
pub fn add_default_membership(fields: &mut Map<String, Value>) {
    let memberships = fields
        .entry("memberships")
        .or_insert_with(|| Value::Array(Vec::new()));
    if let Some(list) = memberships.as_array_mut() {
        let has_my_contacts = list.iter().any(|membership| {
            membership
                .pointer("/contactGroupMembership/contactGroupResourceName")
                .and_then(Value::as_str)
                == Some("contactGroups/myContacts")
        });
        if !has_my_contacts {
            list.push(json!({
                "contactGroupMembership": {
                    "contactGroupId": "myContacts",
                    "contactGroupResourceName": "contactGroups/myContacts",
                }
            }));
        }
    }
}

/// Returns the first value of `key` in the first item of `field`, lowercased, for sorting.
pub fn sort_key(contact: &Contact, field: &str, key: &str) -> String {
    contact
        .fields
        .get(field)
        .and_then(|items| items.get(0))
        .and_then(|item| item.get(key))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_lowercase()
}
