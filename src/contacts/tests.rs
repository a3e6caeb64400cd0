//! Unit tests of contact validation and of the mapping to and from `Person`.

use axum::http::{HeaderMap, HeaderValue, StatusCode};
use google_people1::api as google;
use serde_json::json;

use super::mapping::{contact_from_person, person_from_new, person_from_patch};
use super::model::{Birthday, ContactName, ContactPatch, EmailAddress, ListQuery, NewContact};
use super::validation::{self, contact_id, page_request, required_etag};

fn person_json() -> serde_json::Value {
    json!({
        "resourceName": "people/c8412906223466812907",
        "etag": "%EgcBAgkLLjc9GgECIgx2VnR3WmVzbXRRcz0=",
        "metadata": {"sources": [
            {"type": "CONTACT", "id": "74c0a2", "etag": "#abc", "updateTime": "2024-05-06T07:08:09.123Z"},
            {"type": "PROFILE", "id": "1000", "updateTime": "2020-01-01T00:00:00Z"}
        ]},
        "names": [
            {"metadata": {"source": {"type": "CONTACT"}}, "givenName": "Jane", "familyName": "Buyer", "displayName": "Jane Buyer"},
            {"metadata": {"source": {"type": "PROFILE"}}, "givenName": "Janet", "displayName": "Janet B"}
        ],
        "emailAddresses": [
            {"metadata": {"source": {"type": "CONTACT"}}, "value": "jane@example.com", "type": "home", "formattedType": "Home"},
            {"metadata": {"source": {"type": "PROFILE"}}, "value": "janet.profile@example.com"}
        ],
        "phoneNumbers": [{"value": "+1 415-555-0100", "type": "mobile", "canonicalForm": "+14155550100"}],
        "addresses": [{"streetAddress": "1 Main St", "city": "Springfield", "region": "IL", "postalCode": "62701",
            "country": "USA", "type": "home", "formattedValue": "1 Main St\nSpringfield, IL 62701\nUSA"}],
        "organizations": [{"name": "Acme Realty", "title": "Broker", "department": "Sales"}],
        "birthdays": [{"date": {"month": 2, "day": 29}}],
        "biographies": [{"value": "Prefers calls after 5pm", "contentType": "TEXT_PLAIN"}]
    })
}

fn person() -> google::Person {
    serde_json::from_value(person_json()).expect("person JSON matches google-people1")
}

#[test]
fn person_maps_to_contact() {
    let contact = contact_from_person(&person());

    assert_eq!(contact.id, "c8412906223466812907");
    assert_eq!(contact.etag, "%EgcBAgkLLjc9GgECIgx2VnR3WmVzbXRRcz0=");
    assert_eq!(
        contact
            .names
            .as_ref()
            .and_then(|name| name.given_name.as_deref()),
        Some("Jane")
    );
    assert_eq!(contact.phone_numbers[0].value, "+1 415-555-0100");
    assert_eq!(contact.phone_numbers[0].kind.as_deref(), Some("mobile"));
    assert_eq!(
        contact.postal_addresses[0].city.as_deref(),
        Some("Springfield")
    );
    assert_eq!(
        contact.postal_addresses[0].formatted.as_deref(),
        Some("1 Main St\nSpringfield, IL 62701\nUSA")
    );
    assert_eq!(contact.organizations[0].title.as_deref(), Some("Broker"));
    assert_eq!(
        contact.birthday,
        Some(Birthday {
            year: None,
            month: 2,
            day: 29
        })
    );
    assert_eq!(contact.notes.as_deref(), Some("Prefers calls after 5pm"));
    assert_eq!(
        contact.updated_at.as_deref(),
        Some("2024-05-06T07:08:09.123Z")
    );
}

#[test]
fn profile_values_are_left_out() {
    let contact = contact_from_person(&person());

    assert_eq!(contact.email_addresses.len(), 1);
    assert_eq!(contact.email_addresses[0].value, "jane@example.com");
    assert_eq!(contact.email_addresses[0].kind.as_deref(), Some("home"));
}

#[test]
fn contact_json_is_snake_case() {
    let value = serde_json::to_value(contact_from_person(&person())).expect("serializes");

    assert_eq!(value["email_addresses"][0]["type"], "home");
    assert_eq!(value["names"]["family_name"], "Buyer");
    assert_eq!(value["postal_addresses"][0]["postal_code"], "62701");
    assert!(value["birthday"]["year"].is_null());
}

#[test]
fn sparse_person_maps_to_empty_contact() {
    let sparse: google::Person =
        serde_json::from_value(json!({"resourceName": "people/c1", "etag": "e"})).expect("parses");

    let contact = contact_from_person(&sparse);

    assert_eq!(contact.id, "c1");
    assert!(contact.names.is_none());
    assert!(contact.email_addresses.is_empty());
    assert!(contact.birthday.is_none());
    assert!(contact.updated_at.is_none());
}

#[test]
fn birthday_year_zero_means_unknown() {
    let with_zero: google::Person =
        serde_json::from_value(json!({"birthdays": [{"date": {"year": 0, "month": 7, "day": 4}}]}))
            .expect("parses");

    let contact = contact_from_person(&with_zero);

    assert_eq!(
        contact.birthday,
        Some(Birthday {
            year: None,
            month: 7,
            day: 4
        })
    );
}

#[test]
fn new_contact_maps_to_person() {
    let contact = NewContact {
        names: Some(ContactName {
            given_name: Some("Jane".to_owned()),
            ..Default::default()
        }),
        email_addresses: vec![EmailAddress {
            value: "jane@example.com".to_owned(),
            kind: Some("work".to_owned()),
        }],
        birthday: Some(Birthday {
            year: Some(1980),
            month: 12,
            day: 31,
        }),
        notes: Some("met at open house".to_owned()),
        ..Default::default()
    };

    let value = serde_json::to_value(person_from_new(&contact)).expect("serializes");

    assert_eq!(value["names"][0]["givenName"], "Jane");
    assert_eq!(value["emailAddresses"][0]["value"], "jane@example.com");
    assert_eq!(value["emailAddresses"][0]["type"], "work");
    assert_eq!(
        value["birthdays"][0]["date"],
        json!({"year": 1980, "month": 12, "day": 31})
    );
    assert_eq!(value["biographies"][0]["value"], "met at open house");
    assert!(value["phoneNumbers"].is_null(), "empty lists are not sent");
}

#[test]
fn contact_round_trips_through_person() {
    let original = contact_from_person(&person());
    let new = NewContact {
        names: original.names.clone(),
        email_addresses: original.email_addresses.clone(),
        phone_numbers: original.phone_numbers.clone(),
        postal_addresses: original.postal_addresses.clone(),
        organizations: original.organizations.clone(),
        birthday: original.birthday,
        notes: original.notes.clone(),
    };

    let mut round_trip = person_from_new(&new);
    round_trip.resource_name = Some("people/c8412906223466812907".to_owned());
    round_trip.etag = Some(original.etag.clone());
    let mapped = contact_from_person(&round_trip);

    assert_eq!(mapped.names, original.names);
    assert_eq!(mapped.email_addresses, original.email_addresses);
    assert_eq!(mapped.phone_numbers, original.phone_numbers);
    assert_eq!(mapped.organizations, original.organizations);
    assert_eq!(mapped.birthday, original.birthday);
    assert_eq!(mapped.notes, original.notes);
}

fn parse_patch(body: serde_json::Value) -> ContactPatch {
    serde_json::from_value(body).expect("patch parses")
}

#[test]
fn patch_sends_exactly_present_fields() {
    let patch = parse_patch(json!({"phone_numbers": [{"value": "555-0100"}], "notes": null}));

    let (person, fields) = person_from_patch(&patch, "etag-1");
    let value = serde_json::to_value(&person).expect("serializes");

    assert_eq!(fields.to_string(), "phoneNumbers,biographies");
    assert_eq!(value["etag"], "etag-1");
    assert_eq!(value["phoneNumbers"][0]["value"], "555-0100");
    assert_eq!(value["biographies"], json!([]), "null clears the notes");
    assert!(value["names"].is_null(), "absent fields are not sent");
}

#[test]
fn patch_tells_null_from_absent() {
    let patch = parse_patch(json!({"birthday": null, "email_addresses": []}));

    assert_eq!(patch.birthday, Some(None));
    assert_eq!(patch.email_addresses, Some(Some(Vec::new())));
    assert_eq!(patch.names, None);

    let (_, fields) = person_from_patch(&patch, "e");
    assert_eq!(fields.to_string(), "emailAddresses,birthdays");
}

#[test]
fn patch_maps_every_field_name() {
    let patch = parse_patch(json!({
        "names": {"given_name": "A"}, "email_addresses": [], "phone_numbers": [], "postal_addresses": [],
        "organizations": [], "birthday": {"month": 1, "day": 1}, "notes": "n"
    }));

    let (_, fields) = person_from_patch(&patch, "e");

    assert_eq!(
        fields.to_string(),
        "names,emailAddresses,phoneNumbers,addresses,organizations,birthdays,biographies"
    );
}

#[test]
fn unknown_patch_field_is_rejected() {
    let parsed: Result<ContactPatch, _> = serde_json::from_value(json!({"nickname": "JJ"}));

    assert!(parsed.is_err());
}

#[test]
fn empty_patch_is_rejected() {
    let error = validation::patch(&parse_patch(json!({"etag": "e"}))).expect_err("no field");

    assert_eq!(error.code(), "empty_patch");
}

#[test]
fn etag_comes_from_body_or_if_match() {
    let mut headers = HeaderMap::new();
    assert_eq!(
        required_etag(Some("abc"), &headers).expect("body etag"),
        "abc"
    );

    headers.insert("if-match", HeaderValue::from_static("\"abc\""));
    assert_eq!(required_etag(None, &headers).expect("header etag"), "abc");
    assert_eq!(
        required_etag(Some("abc"), &headers).expect("same etag"),
        "abc"
    );
}

#[test]
fn missing_etag_is_428() {
    let error = required_etag(None, &HeaderMap::new()).expect_err("no etag");

    assert_eq!(error.status(), StatusCode::PRECONDITION_REQUIRED);
    assert_eq!(error.code(), "etag_required");
}

#[test]
fn conflicting_etags_are_rejected() {
    let mut headers = HeaderMap::new();
    headers.insert("if-match", HeaderValue::from_static("\"other\""));

    let error = required_etag(Some("abc"), &headers).expect_err("differ");

    assert_eq!(error.code(), "etag_conflict");
}

#[test]
fn if_match_star_is_rejected() {
    let mut headers = HeaderMap::new();
    headers.insert("if-match", HeaderValue::from_static("*"));

    let error = required_etag(None, &headers).expect_err("star");

    assert_eq!(error.code(), "invalid_if_match");
}

#[test]
fn contact_id_rules() {
    assert_eq!(contact_id("c123").expect("valid"), "c123");
    for invalid in [
        "",
        "c",
        "123",
        "people/c123",
        "c12a",
        "C123",
        "c-1",
        &format!("c{}", "1".repeat(70)),
    ] {
        let error = contact_id(invalid).expect_err(invalid);
        assert_eq!(error.code(), "invalid_contact_id", "{invalid:?}");
        assert_eq!(error.status(), StatusCode::BAD_REQUEST);
    }
}

#[test]
fn page_size_bounds() {
    let default = page_request(ListQuery::default()).expect("default");
    assert_eq!(default.page_size, validation::DEFAULT_PAGE_SIZE);

    for size in [0, 1001] {
        let query = ListQuery {
            page_size: Some(size),
            cursor: None,
        };
        assert_eq!(
            page_request(query).expect_err("out of range").code(),
            "invalid_page_size"
        );
    }
}

#[test]
fn cursor_must_be_printable() {
    let query = ListQuery {
        page_size: None,
        cursor: Some("abc def".to_owned()),
    };

    assert_eq!(
        page_request(query).expect_err("space").code(),
        "invalid_cursor"
    );
}

fn new_contact(body: serde_json::Value) -> NewContact {
    serde_json::from_value(body).expect("new contact parses")
}

fn rejection(body: serde_json::Value) -> (String, Option<String>) {
    let error = validation::new_contact(&new_contact(body)).expect_err("invalid");
    let problem = error.problem();
    assert_eq!(problem.status, 400);
    (problem.code, problem.field)
}

#[test]
fn invalid_contacts_name_the_field() {
    let cases = [
        (json!({}), "empty_contact", "names"),
        (
            json!({"names": {"given_name": ""}}),
            "empty_contact",
            "names",
        ),
        (
            json!({"email_addresses": [{"value": "jane@example.com"}, {"value": "not-an-address"}]}),
            "invalid_email",
            "email_addresses[1].value",
        ),
        (
            json!({"phone_numbers": [{"value": "call me"}]}),
            "invalid_phone_number",
            "phone_numbers[0].value",
        ),
        (
            json!({"phone_numbers": [{"value": "555<script>"}]}),
            "invalid_phone_number",
            "phone_numbers[0].value",
        ),
        (
            json!({"birthday": {"month": 13, "day": 1}}),
            "invalid_birthday",
            "birthday.month",
        ),
        (
            json!({"birthday": {"year": 2023, "month": 2, "day": 29}}),
            "invalid_birthday",
            "birthday.day",
        ),
        (
            json!({"birthday": {"month": 4, "day": 31}}),
            "invalid_birthday",
            "birthday.day",
        ),
        (
            json!({"birthday": {"year": 0, "month": 1, "day": 1}}),
            "invalid_birthday",
            "birthday.year",
        ),
        (
            json!({"names": {"family_name": "x".repeat(1025)}}),
            "text_too_long",
            "names.family_name",
        ),
        (
            json!({"notes": "x".repeat(20_001)}),
            "text_too_long",
            "notes",
        ),
        (
            json!({"names": {"given_name": "Jane\u{0}"}}),
            "invalid_text",
            "names.given_name",
        ),
        (
            json!({"organizations": (0..51).map(|_| json!({"name": "Acme"})).collect::<Vec<_>>()}),
            "too_many_values",
            "organizations",
        ),
    ];

    for (body, code, field) in cases {
        let (actual_code, actual_field) = rejection(body.clone());
        assert_eq!(actual_code, code, "{body}");
        assert_eq!(actual_field.as_deref(), Some(field), "{body}");
    }
}

#[test]
fn valid_contacts_pass() {
    let bodies = [
        json!({"names": {"given_name": "Jane"}}),
        json!({"email_addresses": [{"value": "Jane.Buyer@Example.com", "type": "work"}]}),
        json!({"phone_numbers": [{"value": "+1 (415) 555-0100 ext. 12"}]}),
        json!({"birthday": {"month": 2, "day": 29}}),
        json!({"birthday": {"year": 2024, "month": 2, "day": 29}}),
        json!({"notes": "line one\nline two"}),
    ];

    for body in bodies {
        assert!(
            validation::new_contact(&new_contact(body.clone())).is_ok(),
            "{body}"
        );
    }
}

#[test]
fn patch_fields_are_validated() {
    let error = validation::patch(&parse_patch(json!({"email_addresses": [{"value": "bad"}]})))
        .expect_err("invalid");

    assert_eq!(error.code(), "invalid_email");
    assert_eq!(
        error.problem().field.as_deref(),
        Some("email_addresses[0].value")
    );
}
