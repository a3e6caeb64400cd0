//! Query-string parsing with repeated parameters, and the opaque page and sync tokens the
//! emulator hands out.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

/// Decoded query parameters in request order.
#[derive(Debug, Default)]
pub struct Params {
    pairs: Vec<(String, String)>,
}

impl Params {
    /// Parses a raw query string; `None` gives empty parameters.
    pub fn parse(raw: Option<&str>) -> Self {
        let pairs = raw
            .map(|query| {
                form_urlencoded::parse(query.as_bytes())
                    .map(|(name, value)| (name.into_owned(), value.into_owned()))
                    .collect()
            })
            .unwrap_or_default();
        Self { pairs }
    }

    /// Returns the last value of a parameter.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .rev()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// Returns a parameter's value when present and not empty.
    pub fn non_empty(&self, name: &str) -> Option<&str> {
        self.get(name).filter(|value| !value.is_empty())
    }

    /// Parses a boolean parameter; Google accepts `true`/`false` only. Returns the raw value on
    /// failure.
    pub fn bool(&self, name: &str) -> Result<Option<bool>, String> {
        match self.get(name) {
            None => Ok(None),
            Some("true") | Some("1") => Ok(Some(true)),
            Some("false") | Some("0") => Ok(Some(false)),
            Some(other) => Err(other.to_string()),
        }
    }

    /// Parses an integer parameter. Returns the raw value on failure.
    pub fn int(&self, name: &str) -> Result<Option<i64>, String> {
        match self.get(name) {
            None => Ok(None),
            Some(value) => value.parse().map(Some).map_err(|_| value.to_string()),
        }
    }
}

/// Encodes the fields of a page or sync token into an opaque string.
pub fn encode_token(fields: &[String]) -> String {
    URL_SAFE_NO_PAD.encode(fields.join("\n"))
}

/// Decodes a token made by [`encode_token`] whose first field is `kind`.
pub fn decode_token(token: &str, kind: &str) -> Option<Vec<String>> {
    let bytes = URL_SAFE_NO_PAD.decode(token.trim_end_matches('=')).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let fields: Vec<String> = text.split('\n').map(str::to_string).collect();
    (fields.first().map(String::as_str) == Some(kind)).then_some(fields)
}
