//! Conversion between our contact JSON and google-people1's `Person`.
//!
//! A connection can also carry values from the contact's own Google profile
//! (source type `PROFILE`). Only values of the contact itself (source type
//! `CONTACT`, or no source metadata) are returned, because only those can be
//! written back: echoing profile values in a PATCH would copy them into the contact.

use chrono::SecondsFormat;
use google_people1::api as google;
use google_people1::FieldMask;

use super::model::{
    Birthday, Contact, ContactName, ContactPatch, EmailAddress, NewContact, Organization,
    PhoneNumber, PostalAddress,
};

/// Person fields read on every call, in the People API's names.
pub const PERSON_FIELDS: &[&str] = &[
    "names",
    "emailAddresses",
    "phoneNumbers",
    "addresses",
    "organizations",
    "birthdays",
    "biographies",
    "metadata",
];

/// Source type of values stored on the contact itself.
const CONTACT_SOURCE: &str = "CONTACT";

/// Prefix of People resource names.
const RESOURCE_PREFIX: &str = "people/";

/// Builds the field mask of [`PERSON_FIELDS`].
pub fn person_fields() -> FieldMask {
    FieldMask::new(PERSON_FIELDS)
}

/// Resource name of a contact id, such as `people/c123`.
pub fn resource_name(contact_id: &str) -> String {
    format!("{RESOURCE_PREFIX}{contact_id}")
}

/// Contact id of a resource name: `people/c123` becomes `c123`.
pub fn contact_id(resource_name: &str) -> &str {
    resource_name
        .strip_prefix(RESOURCE_PREFIX)
        .unwrap_or(resource_name)
}

/// Converts a Person read from Google.
pub fn contact_from_person(person: &google::Person) -> Contact {
    let resource = person.resource_name.as_deref().unwrap_or_default();

    Contact {
        id: resource
            .strip_prefix(RESOURCE_PREFIX)
            .unwrap_or(resource)
            .to_owned(),
        etag: person.etag.clone().unwrap_or_default(),
        names: own(&person.names, |name| &name.metadata)
            .next()
            .and_then(name_from_google),
        email_addresses: own(&person.email_addresses, |email| &email.metadata)
            .filter_map(email_from_google)
            .collect(),
        phone_numbers: own(&person.phone_numbers, |phone| &phone.metadata)
            .filter_map(phone_from_google)
            .collect(),
        postal_addresses: own(&person.addresses, |address| &address.metadata)
            .map(address_from_google)
            .collect(),
        organizations: own(&person.organizations, |organization| &organization.metadata)
            .map(organization_from_google)
            .collect(),
        birthday: own(&person.birthdays, |birthday| &birthday.metadata)
            .find_map(birthday_from_google),
        notes: own(&person.biographies, |biography| &biography.metadata)
            .find_map(|biography| biography.value.clone()),
        updated_at: updated_at(person),
    }
}

/// Values of the contact itself, in Google's order.
fn own<'a, T>(
    values: &'a Option<Vec<T>>,
    metadata: impl Fn(&T) -> &Option<google::FieldMetadata> + 'a,
) -> impl Iterator<Item = &'a T> + 'a {
    values.iter().flatten().filter(move |value| {
        let source_type = metadata(value)
            .as_ref()
            .and_then(|metadata| metadata.source.as_ref())
            .and_then(|source| source.type_.as_deref());
        source_type.is_none_or(|kind| kind == CONTACT_SOURCE)
    })
}

fn name_from_google(name: &google::Name) -> Option<ContactName> {
    let converted = ContactName {
        given_name: name.given_name.clone(),
        family_name: name.family_name.clone(),
        middle_name: name.middle_name.clone(),
        display_name: name.display_name.clone(),
    };
    (converted != ContactName::default()).then_some(converted)
}

fn email_from_google(email: &google::EmailAddress) -> Option<EmailAddress> {
    Some(EmailAddress {
        value: email.value.clone()?,
        kind: email.type_.clone(),
    })
}

fn phone_from_google(phone: &google::PhoneNumber) -> Option<PhoneNumber> {
    Some(PhoneNumber {
        value: phone.value.clone()?,
        kind: phone.type_.clone(),
    })
}

fn address_from_google(address: &google::Address) -> PostalAddress {
    PostalAddress {
        street_address: address.street_address.clone(),
        city: address.city.clone(),
        region: address.region.clone(),
        postal_code: address.postal_code.clone(),
        country: address.country.clone(),
        kind: address.type_.clone(),
        formatted: address.formatted_value.clone(),
    }
}

fn organization_from_google(organization: &google::Organization) -> Organization {
    Organization {
        name: organization.name.clone(),
        title: organization.title.clone(),
        department: organization.department.clone(),
    }
}

/// Converts a birthday that has a month and a day. Google sends year 0 or no
/// year when the year is unknown.
fn birthday_from_google(birthday: &google::Birthday) -> Option<Birthday> {
    let date = birthday.date.as_ref()?;
    let month = u32::try_from(date.month?).ok().filter(|month| *month > 0)?;
    let day = u32::try_from(date.day?).ok().filter(|day| *day > 0)?;

    Some(Birthday {
        year: date.year.filter(|year| *year > 0),
        month,
        day,
    })
}

/// Update time of the contact source, the one a user's edits change.
fn updated_at(person: &google::Person) -> Option<String> {
    let sources = person.metadata.as_ref()?.sources.as_ref()?;
    sources
        .iter()
        .filter(|source| {
            source
                .type_
                .as_deref()
                .is_none_or(|kind| kind == CONTACT_SOURCE)
        })
        .find_map(|source| source.update_time)
        .map(|time| time.to_rfc3339_opts(SecondsFormat::AutoSi, true))
}

/// Builds the Person to send to `createContact`.
pub fn person_from_new(contact: &NewContact) -> google::Person {
    google::Person {
        names: contact
            .names
            .as_ref()
            .map(|name| vec![name_to_google(name)]),
        email_addresses: non_empty(&contact.email_addresses, email_to_google),
        phone_numbers: non_empty(&contact.phone_numbers, phone_to_google),
        addresses: non_empty(&contact.postal_addresses, address_to_google),
        organizations: non_empty(&contact.organizations, organization_to_google),
        birthdays: contact
            .birthday
            .as_ref()
            .map(|birthday| vec![birthday_to_google(birthday)]),
        biographies: notes_to_google(contact.notes.as_deref()),
        ..Default::default()
    }
}

fn non_empty<T, G>(values: &[T], convert: impl Fn(&T) -> G) -> Option<Vec<G>> {
    (!values.is_empty()).then(|| values.iter().map(convert).collect())
}

/// Builds the Person and `updatePersonFields` of `updateContact` for a patch.
/// The mask names exactly the fields present in the patch. Each is replaced,
/// or cleared when it is `null` or `[]`.
pub fn person_from_patch(patch: &ContactPatch, etag: &str) -> (google::Person, FieldMask) {
    let mut person = google::Person {
        etag: Some(etag.to_owned()),
        ..Default::default()
    };
    let mut fields = Vec::new();

    if let Some(names) = &patch.names {
        person.names = Some(names.iter().map(name_to_google).collect());
        fields.push("names");
    }
    if let Some(emails) = &patch.email_addresses {
        person.email_addresses = Some(replaced(emails, email_to_google));
        fields.push("emailAddresses");
    }
    if let Some(phones) = &patch.phone_numbers {
        person.phone_numbers = Some(replaced(phones, phone_to_google));
        fields.push("phoneNumbers");
    }
    if let Some(addresses) = &patch.postal_addresses {
        person.addresses = Some(replaced(addresses, address_to_google));
        fields.push("addresses");
    }
    if let Some(organizations) = &patch.organizations {
        person.organizations = Some(replaced(organizations, organization_to_google));
        fields.push("organizations");
    }
    if let Some(birthday) = &patch.birthday {
        person.birthdays = Some(birthday.iter().map(birthday_to_google).collect());
        fields.push("birthdays");
    }
    if let Some(notes) = &patch.notes {
        person.biographies = Some(notes_to_google(notes.as_deref()).unwrap_or_default());
        fields.push("biographies");
    }

    (person, FieldMask::new(&fields))
}

fn replaced<T, G>(values: &Option<Vec<T>>, convert: impl Fn(&T) -> G) -> Vec<G> {
    values.iter().flatten().map(convert).collect()
}

fn name_to_google(name: &ContactName) -> google::Name {
    google::Name {
        given_name: name.given_name.clone(),
        family_name: name.family_name.clone(),
        middle_name: name.middle_name.clone(),
        display_name: name.display_name.clone(),
        ..Default::default()
    }
}

fn email_to_google(email: &EmailAddress) -> google::EmailAddress {
    google::EmailAddress {
        value: Some(email.value.trim().to_owned()),
        type_: email.kind.clone(),
        ..Default::default()
    }
}

fn phone_to_google(phone: &PhoneNumber) -> google::PhoneNumber {
    google::PhoneNumber {
        value: Some(phone.value.clone()),
        type_: phone.kind.clone(),
        ..Default::default()
    }
}

/// `formatted` is not sent: Google computes `formattedValue` from the parts.
fn address_to_google(address: &PostalAddress) -> google::Address {
    google::Address {
        street_address: address.street_address.clone(),
        city: address.city.clone(),
        region: address.region.clone(),
        postal_code: address.postal_code.clone(),
        country: address.country.clone(),
        type_: address.kind.clone(),
        ..Default::default()
    }
}

fn organization_to_google(organization: &Organization) -> google::Organization {
    google::Organization {
        name: organization.name.clone(),
        title: organization.title.clone(),
        department: organization.department.clone(),
        ..Default::default()
    }
}

/// Validation limits months to 12 and days to 31, so the conversions succeed.
fn birthday_to_google(birthday: &Birthday) -> google::Birthday {
    google::Birthday {
        date: Some(google::Date {
            year: birthday.year,
            month: i32::try_from(birthday.month).ok(),
            day: i32::try_from(birthday.day).ok(),
        }),
        ..Default::default()
    }
}

fn notes_to_google(notes: Option<&str>) -> Option<Vec<google::Biography>> {
    let notes = notes.filter(|notes| !notes.is_empty())?;
    Some(vec![google::Biography {
        value: Some(notes.to_owned()),
        content_type: Some("TEXT_PLAIN".to_owned()),
        ..Default::default()
    }])
}
