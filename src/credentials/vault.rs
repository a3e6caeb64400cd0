//! Master keyring: seals service-account keys with AES-256-GCM. The first
//! master key seals new keys, and every key in the ring opens. A new master key
//! can therefore be added before stored keys are re-encrypted under it.

use std::path::Path;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use rand::RngCore;
use ring::aead::{self, Aad, LessSafeKey, Nonce, UnboundKey, NONCE_LEN};
use secrecy::{ExposeSecret, SecretString};
use zeroize::Zeroizing;

/// A sealed secret and the master key that sealed it.
#[derive(Debug, Clone)]
pub struct Sealed {
    /// Id of the master key.
    pub master_key_id: String,
    /// 96-bit AES-GCM nonce.
    pub nonce: Vec<u8>,
    /// Ciphertext followed by the 16-byte tag.
    pub ciphertext: Vec<u8>,
}

/// The keyring.
pub struct Vault {
    keys: Vec<(String, LessSafeKey)>,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ids: Vec<&str> = self.keys.iter().map(|(id, _)| id.as_str()).collect();
        f.debug_struct("Vault")
            .field("master_key_ids", &ids)
            .finish()
    }
}

/// Associated data binding a sealed key to its brokerage and version, so a
/// ciphertext copied to another row fails to open.
fn associated_data(brokerage_id: &str, version: i64) -> Vec<u8> {
    format!("workspace-gateway/credential/v1/{brokerage_id}/{version}").into_bytes()
}

impl Vault {
    /// Builds the keyring from `ID:BASE64` entries of 32 bytes each; the first seals.
    pub fn from_entries(entries: &[SecretString]) -> anyhow::Result<Self> {
        if entries.is_empty() {
            anyhow::bail!("the master keyring is empty");
        }

        let mut keys = Vec::with_capacity(entries.len());
        for (position, entry) in entries.iter().enumerate() {
            let (id, encoded) = entry.expose_secret().split_once(':').ok_or_else(|| {
                anyhow::anyhow!("master key #{} must be written as ID:BASE64", position + 1)
            })?;
            let id = id.trim();
            if id.is_empty() || keys.iter().any(|(existing, _)| existing == id) {
                anyhow::bail!("master key #{} has an empty or repeated id", position + 1);
            }

            let bytes = Zeroizing::new(
                STANDARD
                    .decode(encoded.trim())
                    .map_err(|_| anyhow::anyhow!("master key {id:?} is not valid base64"))?,
            );
            if bytes.len() != 32 {
                anyhow::bail!(
                    "master key {id:?} must be 32 bytes (base64 of 32 random bytes), got {}",
                    bytes.len()
                );
            }
            let key = UnboundKey::new(&aead::AES_256_GCM, &bytes)
                .map_err(|_| anyhow::anyhow!("master key {id:?} was rejected by AES-256-GCM"))?;
            keys.push((id.to_owned(), LessSafeKey::new(key)));
        }
        Ok(Self { keys })
    }

    /// Loads a development secret file, creating it with 32 random bytes when
    /// missing, and warns that `variable` should be set in production instead.
    pub fn entry_from_file(path: &Path, variable: &str) -> anyhow::Result<SecretString> {
        if let Ok(contents) = std::fs::read_to_string(path) {
            tracing::warn!(path = %path.display(), "using a development secret from a file; set {variable} in production");
            return Ok(SecretString::from(contents.trim().to_owned()));
        }

        let mut bytes = Zeroizing::new([0u8; 32]);
        rand::thread_rng().fill_bytes(bytes.as_mut());
        let entry = format!("dev:{}", STANDARD.encode(bytes.as_ref()));

        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        write_private_file(path, &entry).map_err(|error| {
            anyhow::anyhow!(
                "cannot write the development secret {}: {error}",
                path.display()
            )
        })?;
        tracing::warn!(path = %path.display(), "generated a development secret file; set {variable} in production");
        Ok(SecretString::from(entry))
    }

    /// Id of the master key that seals new secrets.
    pub fn current_key_id(&self) -> &str {
        &self.keys[0].0
    }

    /// Checks whether `master_key_id` is in the ring.
    pub fn contains(&self, master_key_id: &str) -> bool {
        self.keys.iter().any(|(id, _)| id == master_key_id)
    }

    /// Seals `plaintext` for (brokerage, version) under the current master key.
    pub fn seal(
        &self,
        brokerage_id: &str,
        version: i64,
        plaintext: &[u8],
    ) -> anyhow::Result<Sealed> {
        let (id, key) = &self.keys[0];

        let mut nonce_bytes = [0u8; NONCE_LEN];
        rand::thread_rng().fill_bytes(&mut nonce_bytes);

        let mut buffer = plaintext.to_vec();
        key.seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce_bytes),
            Aad::from(associated_data(brokerage_id, version)),
            &mut buffer,
        )
        .map_err(|_| anyhow::anyhow!("sealing failed"))?;

        Ok(Sealed {
            master_key_id: id.clone(),
            nonce: nonce_bytes.to_vec(),
            ciphertext: buffer,
        })
    }

    /// Opens a sealed secret of (brokerage, version).
    pub fn open(
        &self,
        brokerage_id: &str,
        version: i64,
        sealed: &Sealed,
    ) -> anyhow::Result<Zeroizing<Vec<u8>>> {
        let key = self
            .keys
            .iter()
            .find(|(id, _)| *id == sealed.master_key_id)
            .map(|(_, key)| key)
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "master key {:?} is not in the keyring",
                    sealed.master_key_id
                )
            })?;

        let nonce = Nonce::try_assume_unique_for_key(&sealed.nonce)
            .map_err(|_| anyhow::anyhow!("stored nonce has the wrong length"))?;
        let mut buffer = Zeroizing::new(sealed.ciphertext.clone());
        let plaintext_len = key
            .open_in_place(
                nonce,
                Aad::from(associated_data(brokerage_id, version)),
                buffer.as_mut_slice(),
            )
            .map_err(|_| {
                anyhow::anyhow!(
                    "the sealed key failed authentication (wrong master key or tampered row)"
                )
            })?
            .len();
        buffer.truncate(plaintext_len);
        Ok(buffer)
    }
}

#[cfg(unix)]
pub(crate) fn write_private_file(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;

    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(contents.as_bytes())
}

#[cfg(not(unix))]
pub(crate) fn write_private_file(path: &Path, contents: &str) -> std::io::Result<()> {
    std::fs::write(path, contents)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: &str, byte: u8) -> SecretString {
        SecretString::from(format!("{id}:{}", STANDARD.encode([byte; 32])))
    }

    #[test]
    fn seal_then_open_round_trips() {
        let vault = Vault::from_entries(&[entry("k1", 1)]).unwrap();
        let sealed = vault.seal("acme", 1, b"secret key").unwrap();
        assert_ne!(sealed.ciphertext, b"secret key");
        assert_eq!(
            vault.open("acme", 1, &sealed).unwrap().as_slice(),
            b"secret key"
        );
    }

    #[test]
    fn open_rejects_other_brokerage_or_version() {
        let vault = Vault::from_entries(&[entry("k1", 1)]).unwrap();
        let sealed = vault.seal("acme", 1, b"secret key").unwrap();
        assert!(vault.open("other", 1, &sealed).is_err());
        assert!(vault.open("acme", 2, &sealed).is_err());
    }

    #[test]
    fn older_master_key_still_opens() {
        let old = Vault::from_entries(&[entry("k1", 1)]).unwrap();
        let sealed = old.seal("acme", 1, b"secret key").unwrap();
        let rotated = Vault::from_entries(&[entry("k2", 2), entry("k1", 1)]).unwrap();
        assert_eq!(rotated.current_key_id(), "k2");
        assert_eq!(
            rotated.open("acme", 1, &sealed).unwrap().as_slice(),
            b"secret key"
        );
    }

    #[test]
    fn short_master_key_is_rejected() {
        let short = SecretString::from(format!("k1:{}", STANDARD.encode([0u8; 16])));
        assert!(Vault::from_entries(&[short]).is_err());
    }
}
