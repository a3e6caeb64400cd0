//! JSON shapes of the contacts API. Field names are snake_case; `type` fields
//! take Google's values (`home`, `work`, `mobile`, `other`, ...) or a custom label.

use serde::{Deserialize, Deserializer, Serialize};
use utoipa::{IntoParams, ToSchema};

/// A contact in the user's Google Contacts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Contact {
    /// People API id without the `people/` prefix, such as `c1234567890`.
    #[schema(example = "c8412906223466812907")]
    pub id: String,
    /// Version tag; send it back with PATCH (body `etag` or `If-Match`).
    pub etag: String,
    /// The contact's name.
    pub names: Option<ContactName>,
    /// Email addresses.
    pub email_addresses: Vec<EmailAddress>,
    /// Phone numbers.
    pub phone_numbers: Vec<PhoneNumber>,
    /// Postal addresses.
    pub postal_addresses: Vec<PostalAddress>,
    /// Employers and roles.
    pub organizations: Vec<Organization>,
    /// Birthday; the year may be unknown.
    pub birthday: Option<Birthday>,
    /// Free-text notes (Google's biography).
    pub notes: Option<String>,
    /// Last change of the contact in Google (RFC 3339).
    pub updated_at: Option<String>,
}

/// Name parts of a contact; Google derives `display_name` when it is not sent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactName {
    /// Given (first) name.
    pub given_name: Option<String>,
    /// Family (last) name.
    pub family_name: Option<String>,
    /// Middle name.
    pub middle_name: Option<String>,
    /// Full name as displayed.
    pub display_name: Option<String>,
}

/// An email address of a contact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmailAddress {
    /// The address.
    #[schema(example = "jane.buyer@example.com")]
    pub value: String,
    /// `home`, `work`, `other` or a custom label.
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
}

/// A phone number of a contact, in any format Google accepts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PhoneNumber {
    /// The number as entered, such as `+1 415-555-0100`.
    #[schema(example = "+1 415-555-0100")]
    pub value: String,
    /// `home`, `work`, `mobile`, `main`, `other` or a custom label.
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
}

/// A postal address of a contact.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PostalAddress {
    /// Street and number.
    pub street_address: Option<String>,
    /// City.
    pub city: Option<String>,
    /// State, province or region.
    pub region: Option<String>,
    /// Postal code.
    pub postal_code: Option<String>,
    /// Country name.
    pub country: Option<String>,
    /// `home`, `work`, `other` or a custom label.
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    /// The whole address as one text, as Google formats it; ignored on input.
    pub formatted: Option<String>,
}

/// An employer or role of a contact.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Organization {
    /// Organization name.
    pub name: Option<String>,
    /// Job title.
    pub title: Option<String>,
    /// Department.
    pub department: Option<String>,
}

/// A birthday; `year` is absent when unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Birthday {
    /// Year, 1 to 9999.
    pub year: Option<i32>,
    /// Month, 1 to 12.
    pub month: u32,
    /// Day of the month, valid for the month (29 February needs a leap year or no year).
    pub day: u32,
}

/// Body of POST: the contact to create. At least one field must have a value.
/// `Serialize` gives the canonical JSON that idempotency keys are checked against.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewContact {
    /// The contact's name.
    pub names: Option<ContactName>,
    /// Email addresses.
    #[serde(default)]
    pub email_addresses: Vec<EmailAddress>,
    /// Phone numbers.
    #[serde(default)]
    pub phone_numbers: Vec<PhoneNumber>,
    /// Postal addresses.
    #[serde(default)]
    pub postal_addresses: Vec<PostalAddress>,
    /// Employers and roles.
    #[serde(default)]
    pub organizations: Vec<Organization>,
    /// Birthday.
    pub birthday: Option<Birthday>,
    /// Free-text notes.
    pub notes: Option<String>,
}

/// Body of PATCH. A field that is present replaces the stored value; `null` or
/// `[]` clears it; an absent field is left as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactPatch {
    /// Etag of the contact as last read; required here or in `If-Match`.
    pub etag: Option<String>,
    /// The contact's name.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<ContactName>)]
    pub names: Option<Option<ContactName>>,
    /// Email addresses.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Vec<EmailAddress>>)]
    pub email_addresses: Option<Option<Vec<EmailAddress>>>,
    /// Phone numbers.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Vec<PhoneNumber>>)]
    pub phone_numbers: Option<Option<Vec<PhoneNumber>>>,
    /// Postal addresses.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Vec<PostalAddress>>)]
    pub postal_addresses: Option<Option<Vec<PostalAddress>>>,
    /// Employers and roles.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Vec<Organization>>)]
    pub organizations: Option<Option<Vec<Organization>>>,
    /// Birthday.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Birthday>)]
    pub birthday: Option<Option<Birthday>>,
    /// Free-text notes.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub notes: Option<Option<String>>,
}

/// Tells a present `null` (`Some(None)`) from an absent field (`None`, via `default`).
fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// A page of contacts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ContactPage {
    /// Contacts of this page.
    pub items: Vec<Contact>,
    /// Opaque cursor of the next page; absent on the last page.
    pub next_cursor: Option<String>,
    /// Number of contacts the user has, as Google counts them.
    pub total_items: Option<i64>,
}

/// Query of the list route.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Contacts per page, 1 to 1000; 100 when absent.
    pub page_size: Option<u32>,
    /// `next_cursor` of the previous page, with the same `page_size`.
    pub cursor: Option<String>,
}
