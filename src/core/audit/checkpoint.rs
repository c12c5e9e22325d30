//! Anchors: C2SP `tlog-checkpoint` bodies signed as C2SP `signed-note`s with Ed25519.
//!
//! A signed anchor looks like this (one signature line; the blank line separates it):
//!
//! ```text
//! paul-p.example/audit
//! 200
//! <base64 RFC 6962 root at size 200>
//! chain-head <base64 chain value after event 200>
//! prev-anchor <base64 SHA-256 of the previous anchor's body, or of the anchor genesis label>
//! timestamp-ms <ms since the Unix epoch, UTC>
//!
//! — paul-p.example/audit <base64(4-byte key id ‖ 64-byte Ed25519 signature)>
//! ```
//!
//! The first three lines are the standard checkpoint, readable by any tlog tool; the other
//! three are our extension lines (the spec allows non-empty opaque lines after the root).
//!
//! **Key rotation.** The anchor that hands the log over to a new signing key (a *handover*)
//! carries a seventh line, `previous-key <verifier key of the old key>`, and two signature
//! lines: the old key's, then the new key's. Whoever trusts the new key can therefore walk the
//! anchors backwards and learn, from the old key's own signature, which key signed the anchors
//! before the handover — old checkpoints stay verifiable without trusting anything but the
//! current key ([`handover_key`]).
//! The key name is the origin. Key id = first 4 bytes (big-endian) of
//! SHA-256(name ‖ 0x0A ‖ 0x01 ‖ 32-byte public key), as golang.org/x/mod/sumdb/note does.

use super::error::AuditError;
use super::hash::Hash32;
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use std::fmt;

/// Signature type byte of Ed25519 in signed notes.
const ALG_ED25519: u8 = 0x01;

/// Most signature lines a note may carry before we refuse to read it (the spec asks ≥ 16).
const MAX_SIGNATURES: usize = 100;

/// The ASCII label whose SHA-256 stands for "no previous anchor" in the first anchor.
pub const ANCHOR_GENESIS_LABEL: &str = "paul-p/audit/anchor/genesis/v1";

/// `SHA-256("paul-p/audit/anchor/genesis/v1")`: the `prev-anchor` of the first anchor.
pub fn anchor_genesis() -> Hash32 {
    Hash32::sha256(&[ANCHOR_GENESIS_LABEL.as_bytes()])
}

/// Signed-note key name rule: non-empty, no Unicode space, no `+`, no control character.
fn check_key_name(name: &str) -> Result<(), AuditError> {
    if name.is_empty()
        || name
            .chars()
            .any(|c| c.is_whitespace() || c == '+' || c.is_control())
    {
        return Err(AuditError::KeyNameInvalid);
    }
    Ok(())
}

/// Signed-note key id of an Ed25519 key: SHA-256(name ‖ 0x0A ‖ 0x01 ‖ pubkey)[..4], big-endian.
pub fn key_id(name: &str, public_key: &[u8; 32]) -> u32 {
    let digest = Hash32::sha256(&[name.as_bytes(), b"\n", &[ALG_ED25519], public_key]);
    let b = digest.as_bytes();
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

/// The anchor signing key: a name plus the Ed25519 key from the `AUDIT_SIGNING_KEY` secret.
///
/// `Debug` never shows key material.
pub struct NoteSigner {
    name: String,
    key: SigningKey,
    id: u32,
}

impl fmt::Debug for NoteSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NoteSigner({}+{:08x}, key redacted)", self.name, self.id)
    }
}

impl NoteSigner {
    /// Builds the signer from the `AUDIT_SIGNING_KEY` secret: a 32-byte Ed25519 seed (RFC 8032
    /// private key) written as 64 hex digits or as standard padded base64 (44 characters);
    /// surrounding whitespace is ignored.
    ///
    /// Errors: `AUDIT_KEY_NAME_INVALID`, `AUDIT_SIGNING_KEY_MALFORMED` (whose message never
    /// repeats the secret).
    pub fn from_secret(name: &str, secret: &str) -> Result<Self, AuditError> {
        let secret = secret.trim();
        let malformed = |why: &str| AuditError::SigningKeyMalformed {
            detail: format!("{why}; expected a 32-byte seed as 64 hex digits or base64"),
        };
        let bytes = if secret.len() == 64 && secret.bytes().all(|b| b.is_ascii_hexdigit()) {
            hex::decode(secret).map_err(|_| malformed("not hex"))?
        } else {
            BASE64
                .decode(secret)
                .map_err(|_| malformed("neither hex nor base64"))?
        };
        let seed: [u8; 32] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| malformed(&format!("decodes to {} bytes", bytes.len())))?;
        NoteSigner::from_seed(name, &seed)
    }

    /// Builds the signer from a raw 32-byte seed. Errors: `AUDIT_KEY_NAME_INVALID`.
    pub fn from_seed(name: &str, seed: &[u8; 32]) -> Result<Self, AuditError> {
        check_key_name(name)?;
        let key = SigningKey::from_bytes(seed);
        let id = key_id(name, key.verifying_key().as_bytes());
        Ok(NoteSigner {
            name: name.to_string(),
            key,
            id,
        })
    }

    /// The key name (our checkpoint origin).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The signed-note key id.
    pub fn key_id(&self) -> u32 {
        self.id
    }

    /// The Ed25519 public key.
    pub fn public_key(&self) -> [u8; 32] {
        self.key.verifying_key().to_bytes()
    }

    /// The matching verifier.
    pub fn verifier(&self) -> NoteVerifier {
        NoteVerifier {
            name: self.name.clone(),
            id: self.id,
            key: self.key.verifying_key(),
        }
    }

    /// Signs `text` (which must end in a newline and be a valid note text) as a signed note
    /// with one signature line.
    ///
    /// Errors: `AUDIT_NOTE_MALFORMED` for an empty text, one not ending in `\n`, or one with
    /// control characters other than newline.
    pub fn sign_note(&self, text: &str) -> Result<String, AuditError> {
        check_note_text(text)?;
        Ok(format!("{text}\n{}", self.signature_line(text)))
    }

    /// The `— name base64(keyid ‖ signature)` line (newline-terminated) over `text`.
    fn signature_line(&self, text: &str) -> String {
        let signature = self.key.sign(text.as_bytes());
        let mut blob = Vec::with_capacity(4 + 64);
        blob.extend_from_slice(&self.id.to_be_bytes());
        blob.extend_from_slice(&signature.to_bytes());
        format!("\u{2014} {} {}\n", self.name, BASE64.encode(blob))
    }
}

/// A trusted public key for signed notes, written as the verifier key string
/// `name+hexkeyid+base64(0x01 ‖ pubkey)` (golang.org/x/mod/sumdb/note format; the key id is
/// 8 lowercase hex digits). This string is what `GET /audit/checkpoint/key` publishes.
#[derive(Clone, PartialEq, Eq)]
pub struct NoteVerifier {
    name: String,
    id: u32,
    key: VerifyingKey,
}

impl fmt::Debug for NoteVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NoteVerifier({self})")
    }
}

impl fmt::Display for NoteVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut material = Vec::with_capacity(33);
        material.push(ALG_ED25519);
        material.extend_from_slice(self.key.as_bytes());
        write!(
            f,
            "{}+{:08x}+{}",
            self.name,
            self.id,
            BASE64.encode(material)
        )
    }
}

impl NoteVerifier {
    /// Parses a verifier key string. Errors: `AUDIT_VERIFIER_KEY_MALFORMED` (wrong shape,
    /// not Ed25519, not a valid point, or a key id that does not match name and key),
    /// `AUDIT_KEY_NAME_INVALID`.
    pub fn parse(vkey: &str) -> Result<Self, AuditError> {
        let malformed = |detail: &str| AuditError::VerifierKeyMalformed {
            detail: detail.to_string(),
        };
        // The base64 part may itself contain '+', so split only twice.
        let mut parts = vkey.splitn(3, '+');
        let (Some(name), Some(id_hex), Some(material_b64)) =
            (parts.next(), parts.next(), parts.next())
        else {
            return Err(malformed("expected name+keyid+key"));
        };
        check_key_name(name)?;
        if id_hex.len() != 8 || !id_hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(malformed("key id must be 8 hex digits"));
        }
        let id = u32::from_str_radix(id_hex, 16).map_err(|_| malformed("key id is not hex"))?;
        let material = BASE64
            .decode(material_b64)
            .map_err(|_| malformed("key is not base64"))?;
        let Some((&alg, public)) = material.split_first() else {
            return Err(malformed("key is empty"));
        };
        if alg != ALG_ED25519 {
            return Err(malformed("key is not Ed25519 (type 0x01)"));
        }
        let public: [u8; 32] = public
            .try_into()
            .map_err(|_| malformed("Ed25519 key must be 32 bytes"))?;
        if key_id(name, &public) != id {
            return Err(malformed("key id does not match name and key"));
        }
        let key =
            VerifyingKey::from_bytes(&public).map_err(|_| malformed("not an Ed25519 point"))?;
        Ok(NoteVerifier {
            name: name.to_string(),
            id,
            key,
        })
    }

    /// The key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The signed-note key id.
    pub fn key_id(&self) -> u32 {
        self.id
    }

    /// The Ed25519 public key.
    pub fn public_key(&self) -> [u8; 32] {
        self.key.to_bytes()
    }

    /// Verifies a signed note and returns its text (with final newline).
    ///
    /// Signatures from other keys (different name or id) are ignored, as the spec requires;
    /// a signature that names this key but does not verify rejects the whole note.
    /// Errors: `AUDIT_NOTE_MALFORMED`, `AUDIT_NOTE_SIGNATURE_INVALID`,
    /// `AUDIT_NOTE_UNVERIFIED` (no signature from this key).
    pub fn open<'a>(&self, note: &'a str) -> Result<&'a str, AuditError> {
        let (text, signatures) = split_note(note)?;
        let mut verified = false;
        for line in signatures {
            if line.name != self.name || line.key_id != self.id {
                continue;
            }
            let signature = Signature::from_slice(&line.signature)
                .map_err(|_| AuditError::NoteSignatureInvalid)?;
            self.key
                .verify_strict(text.as_bytes(), &signature)
                .map_err(|_| AuditError::NoteSignatureInvalid)?;
            verified = true;
        }
        if verified {
            Ok(text)
        } else {
            Err(AuditError::NoteUnverified)
        }
    }
}

/// One parsed signature line.
struct SignatureLine<'a> {
    name: &'a str,
    key_id: u32,
    signature: Vec<u8>,
}

fn note_malformed(detail: &str) -> AuditError {
    AuditError::NoteMalformed {
        detail: detail.to_string(),
    }
}

fn check_note_text(text: &str) -> Result<(), AuditError> {
    if text.is_empty() || !text.ends_with('\n') {
        return Err(note_malformed(
            "text must be non-empty and end in a newline",
        ));
    }
    if text.chars().any(|c| c < ' ' && c != '\n') {
        return Err(note_malformed("control character in note"));
    }
    Ok(())
}

/// Splits a note at its last blank line into its text and its parsed signature lines.
fn split_note(note: &str) -> Result<(&str, Vec<SignatureLine<'_>>), AuditError> {
    let Some(blank) = note.rfind("\n\n") else {
        return Err(note_malformed("no blank line before signatures"));
    };
    let text = &note[..=blank];
    check_note_text(text)?;
    let block = &note[blank + 2..];
    if block.is_empty() || !block.ends_with('\n') {
        return Err(note_malformed("signature block must end in a newline"));
    }
    let mut lines = Vec::new();
    for line in block[..block.len() - 1].split('\n') {
        if lines.len() == MAX_SIGNATURES {
            return Err(note_malformed("too many signatures"));
        }
        if line.chars().any(char::is_control) {
            return Err(note_malformed("control character in note"));
        }
        let rest = line
            .strip_prefix("\u{2014} ")
            .ok_or_else(|| note_malformed("signature line must start with an em dash"))?;
        let (name, b64) = rest
            .split_once(' ')
            .ok_or_else(|| note_malformed("signature line needs name and signature"))?;
        check_key_name(name).map_err(|_| note_malformed("invalid key name"))?;
        let blob = BASE64
            .decode(b64)
            .map_err(|_| note_malformed("signature is not base64"))?;
        if blob.len() < 5 {
            return Err(note_malformed("signature too short"));
        }
        lines.push(SignatureLine {
            name,
            key_id: u32::from_be_bytes([blob[0], blob[1], blob[2], blob[3]]),
            signature: blob[4..].to_vec(),
        });
    }
    Ok((text, lines))
}

/// An anchor's content: the checkpoint of the log at `size`, plus our extension lines.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    origin: String,
    size: u64,
    root: Hash32,
    chain_head: Hash32,
    prev_anchor: Hash32,
    timestamp_ms: i64,
    /// Set on a handover anchor: the key that signed the anchors before it.
    previous_key: Option<NoteVerifier>,
}

impl Checkpoint {
    /// Builds a checkpoint. `origin` must be a valid key name (it is the signing key's name);
    /// `prev_anchor` is the previous anchor's [`Checkpoint::anchor_hash`] or
    /// [`anchor_genesis`] for the first. Errors: `AUDIT_KEY_NAME_INVALID`.
    pub fn new(
        origin: &str,
        size: u64,
        root: Hash32,
        chain_head: Hash32,
        prev_anchor: Hash32,
        timestamp_ms: i64,
    ) -> Result<Self, AuditError> {
        check_key_name(origin)?;
        Ok(Checkpoint {
            origin: origin.to_string(),
            size,
            root,
            chain_head,
            prev_anchor,
            timestamp_ms,
            previous_key: None,
        })
    }

    /// Makes this a handover anchor from `previous` (the key that signed the anchors before
    /// it). Errors: `AUDIT_CHECKPOINT_ORIGIN_MISMATCH` when the key's name is not the origin.
    pub fn with_previous_key(mut self, previous: NoteVerifier) -> Result<Self, AuditError> {
        if previous.name != self.origin {
            return Err(AuditError::CheckpointOriginMismatch {
                origin: self.origin,
                key_name: previous.name,
            });
        }
        self.previous_key = Some(previous);
        Ok(self)
    }

    /// On a handover anchor, the key that signed the anchors before it.
    pub fn previous_key(&self) -> Option<&NoteVerifier> {
        self.previous_key.as_ref()
    }

    /// The log's identity (first line), equal to the signing key's name.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// Tree size: number of events covered, i.e. the seq of the last one.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// RFC 6962 root at `size`.
    pub fn root(&self) -> Hash32 {
        self.root
    }

    /// Chain value after event `size`.
    pub fn chain_head(&self) -> Hash32 {
        self.chain_head
    }

    /// Hash of the previous anchor's body (or [`anchor_genesis`]).
    pub fn prev_anchor(&self) -> Hash32 {
        self.prev_anchor
    }

    /// When the anchor was made, ms since the Unix epoch (UTC).
    pub fn timestamp_ms(&self) -> i64 {
        self.timestamp_ms
    }

    /// The note text: six newline-terminated lines (seven on a handover), as in the module
    /// docs.
    pub fn to_body(&self) -> String {
        let mut body = format!(
            "{}\n{}\n{}\nchain-head {}\nprev-anchor {}\ntimestamp-ms {}\n",
            self.origin,
            self.size,
            self.root.to_base64(),
            self.chain_head.to_base64(),
            self.prev_anchor.to_base64(),
            self.timestamp_ms
        );
        if let Some(previous) = &self.previous_key {
            body.push_str(&format!("previous-key {previous}\n"));
        }
        body
    }

    /// SHA-256 of [`Checkpoint::to_body`]: what the next anchor's `prev-anchor` commits to.
    /// The signature is left out so that adding cosignatures does not change it.
    pub fn anchor_hash(&self) -> Hash32 {
        Hash32::sha256(&[self.to_body().as_bytes()])
    }

    /// Parses a note text in exactly our format (strict: canonical numbers and base64, the
    /// three extension lines in order, then at most a canonical `previous-key` line whose key
    /// is named like the origin, nothing else). Errors: `AUDIT_CHECKPOINT_MALFORMED`.
    pub fn parse_body(text: &str) -> Result<Self, AuditError> {
        let malformed = |detail: &str| AuditError::CheckpointMalformed {
            detail: detail.to_string(),
        };
        let lines: Vec<&str> = text
            .strip_suffix('\n')
            .ok_or_else(|| malformed("text must end in a newline"))?
            .split('\n')
            .collect();
        let (origin, size, root, chain, prev, time, handover) = match lines[..] {
            [origin, size, root, chain, prev, time] => {
                (origin, size, root, chain, prev, time, None)
            }
            [origin, size, root, chain, prev, time, handover] => {
                (origin, size, root, chain, prev, time, Some(handover))
            }
            _ => return Err(malformed("expected 6 lines, or 7 on a handover")),
        };
        check_key_name(origin).map_err(|_| malformed("origin is not a valid key name"))?;
        let size = parse_canonical_int(size)
            .and_then(|n| u64::try_from(n).ok())
            .ok_or_else(|| malformed("tree size is not a canonical decimal"))?;
        let hash_line = |line: &str, label: &str| {
            let b64 = match label {
                "" => Some(line),
                _ => line
                    .strip_prefix(label)
                    .and_then(|rest| rest.strip_prefix(' ')),
            };
            b64.and_then(|b64| {
                Hash32::from_base64(b64)
                    .ok()
                    .filter(|h| h.to_base64() == b64)
            })
            .ok_or_else(|| {
                malformed(&format!(
                    "bad {} line",
                    if label.is_empty() { "root" } else { label }
                ))
            })
        };
        let root = hash_line(root, "")?;
        let chain_head = hash_line(chain, "chain-head")?;
        let prev_anchor = hash_line(prev, "prev-anchor")?;
        let timestamp_ms = time
            .strip_prefix("timestamp-ms ")
            .and_then(parse_canonical_int)
            .and_then(|n| i64::try_from(n).ok())
            .ok_or_else(|| malformed("bad timestamp-ms line"))?;
        let previous_key = match handover {
            None => None,
            Some(line) => {
                let key = line
                    .strip_prefix("previous-key ")
                    .and_then(|vkey| {
                        NoteVerifier::parse(vkey)
                            .ok()
                            .filter(|k| k.to_string() == vkey)
                    })
                    .ok_or_else(|| malformed("bad previous-key line"))?;
                if key.name != origin {
                    return Err(malformed("previous-key is not named like the origin"));
                }
                Some(key)
            }
        };
        Ok(Checkpoint {
            origin: origin.to_string(),
            size,
            root,
            chain_head,
            prev_anchor,
            timestamp_ms,
            previous_key,
        })
    }
}

/// A decimal integer in its one canonical spelling (no `+`, no leading zeros, no `-0`).
fn parse_canonical_int(s: &str) -> Option<i128> {
    let n: i128 = s.parse().ok()?;
    (n.to_string() == s).then_some(n)
}

/// Signs `checkpoint` with `signer`, whose name must be the checkpoint's origin.
///
/// Errors: `AUDIT_CHECKPOINT_ORIGIN_MISMATCH`.
pub fn sign_checkpoint(checkpoint: &Checkpoint, signer: &NoteSigner) -> Result<String, AuditError> {
    if checkpoint.origin != signer.name {
        return Err(AuditError::CheckpointOriginMismatch {
            origin: checkpoint.origin.clone(),
            key_name: signer.name.clone(),
        });
    }
    signer.sign_note(&checkpoint.to_body())
}

/// Signs a handover anchor: `checkpoint` must name `previous` as its previous key
/// ([`Checkpoint::with_previous_key`]); the note carries the previous key's signature, then the
/// current key's. Errors: `AUDIT_CHECKPOINT_ORIGIN_MISMATCH`, `AUDIT_KEY_HANDOVER_INVALID` (not
/// a handover from `previous`, or the same key twice).
pub fn sign_handover(
    checkpoint: &Checkpoint,
    previous: &NoteSigner,
    current: &NoteSigner,
) -> Result<String, AuditError> {
    for signer in [previous, current] {
        if checkpoint.origin != signer.name {
            return Err(AuditError::CheckpointOriginMismatch {
                origin: checkpoint.origin.clone(),
                key_name: signer.name.clone(),
            });
        }
    }
    if checkpoint.previous_key.as_ref() != Some(&previous.verifier()) || previous.id == current.id {
        return Err(AuditError::KeyHandoverInvalid);
    }
    let text = checkpoint.to_body();
    check_note_text(&text)?;
    Ok(format!(
        "{text}\n{}{}",
        previous.signature_line(&text),
        current.signature_line(&text)
    ))
}

/// If `note` is a handover anchor that `checkpoint` (already opened with the key trusted for
/// it) describes, and the previous key it names really signed it too, that previous key: the
/// one to trust for the anchors before it. `None` for an ordinary anchor, a handover naming
/// the same key, or one the previous key did not sign.
pub fn handover_key(
    note: &str,
    checkpoint: &Checkpoint,
    trusted: &NoteVerifier,
) -> Option<NoteVerifier> {
    let previous = checkpoint.previous_key()?;
    (previous.id != trusted.id && previous.open(note).is_ok()).then(|| previous.clone())
}

/// Verifies a signed anchor with `verifier` and parses its checkpoint; the origin must be the
/// verifier's name. Errors: the note codes of [`NoteVerifier::open`],
/// `AUDIT_CHECKPOINT_MALFORMED`, `AUDIT_CHECKPOINT_ORIGIN_MISMATCH`.
pub fn open_checkpoint(note: &str, verifier: &NoteVerifier) -> Result<Checkpoint, AuditError> {
    let checkpoint = Checkpoint::parse_body(verifier.open(note)?)?;
    if checkpoint.origin != verifier.name {
        return Err(AuditError::CheckpointOriginMismatch {
            origin: checkpoint.origin,
            key_name: verifier.name.clone(),
        });
    }
    Ok(checkpoint)
}

/// Parses the checkpoint of a note **without** checking any signature. Only for saying
/// where a bad anchor sits (its tree size); its content must not be trusted.
pub(crate) fn read_checkpoint_unverified(note: &str) -> Option<Checkpoint> {
    let (text, _) = split_note(note).ok()?;
    Checkpoint::parse_body(text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    // golang.org/x/mod/sumdb/note reference key pair and signed note.
    const GO_SIGNER_KEY: &str =
        "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
    const GO_VERIFIER_KEY: &str =
        "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
    const GO_TEXT: &str = "If you think cryptography is the answer to your problem,\n\
                           then you don't know what your problem is.\n";
    const GO_NOTE: &str = "If you think cryptography is the answer to your problem,\n\
                           then you don't know what your problem is.\n\
                           \n\
                           \u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";

    fn go_signer() -> NoteSigner {
        let material = GO_SIGNER_KEY.splitn(5, '+').nth(4).unwrap();
        let bytes = BASE64.decode(material).unwrap();
        assert_eq!(bytes[0], ALG_ED25519);
        NoteSigner::from_seed("PeterNeumann", bytes[1..].try_into().unwrap()).unwrap()
    }

    fn test_signer() -> NoteSigner {
        NoteSigner::from_seed("paul-p.example/audit", &[7u8; 32]).unwrap()
    }

    fn checkpoint(size: u64) -> Checkpoint {
        Checkpoint::new(
            "paul-p.example/audit",
            size,
            Hash32::sha256(&[b"root"]),
            Hash32::sha256(&[b"chain"]),
            anchor_genesis(),
            1_767_229_200_000,
        )
        .unwrap()
    }

    #[test]
    fn a_handover_anchor_names_the_previous_key_and_carries_both_signatures() {
        let old = test_signer();
        let new = NoteSigner::from_seed("paul-p.example/audit", &[8u8; 32]).unwrap();
        let plain = checkpoint(9);
        let handover = plain.clone().with_previous_key(old.verifier()).unwrap();
        let body = handover.to_body();
        assert_eq!(
            body,
            format!("{}previous-key {}\n", plain.to_body(), old.verifier())
        );
        assert_ne!(handover.anchor_hash(), plain.anchor_hash());
        assert_eq!(Checkpoint::parse_body(&body).unwrap(), handover);
        let note = sign_handover(&handover, &old, &new).unwrap();
        let signatures: Vec<&str> = note.split_once("\n\n").unwrap().1.lines().collect();
        assert_eq!(signatures.len(), 2);
        assert_eq!(open_checkpoint(&note, &old.verifier()).unwrap(), handover);
        assert_eq!(open_checkpoint(&note, &new.verifier()).unwrap(), handover);
        assert_eq!(
            handover_key(&note, &handover, &new.verifier()),
            Some(old.verifier())
        );
        // Only the new key signed: the old key is not handed over.
        let alone = sign_checkpoint(&handover, &new).unwrap();
        assert_eq!(handover_key(&alone, &handover, &new.verifier()), None);
        // Not a handover from `old`, or the same key twice: refused.
        for (cp, from, to) in [
            (&plain, &old, &new),
            (&handover, &new, &old),
            (&handover, &old, &old),
        ] {
            assert_eq!(
                sign_handover(cp, from, to).unwrap_err(),
                AuditError::KeyHandoverInvalid
            );
        }
        let other = NoteSigner::from_seed("other.example", &[8u8; 32]).unwrap();
        assert_eq!(
            plain
                .clone()
                .with_previous_key(other.verifier())
                .unwrap_err()
                .code(),
            "AUDIT_CHECKPOINT_ORIGIN_MISMATCH"
        );
    }

    #[test]
    fn a_previous_key_line_must_be_canonical_and_named_like_the_origin() {
        let old = test_signer();
        let other = NoteSigner::from_seed("other.example", &[8u8; 32]).unwrap();
        let base = checkpoint(9).to_body();
        for bad in [
            format!("{base}previous-key {}\n", other.verifier()),
            format!("{base}previous-key  {}\n", old.verifier()),
            format!("{base}previous-key\n"),
            format!("{base}prev-key {}\n", old.verifier()),
            format!("{base}previous-key {}\nextra\n", old.verifier()),
        ] {
            assert_eq!(
                Checkpoint::parse_body(&bad).unwrap_err().code(),
                "AUDIT_CHECKPOINT_MALFORMED",
                "{bad}"
            );
        }
    }

    #[test]
    fn signing_reproduces_the_go_reference_note_byte_for_byte() {
        let signer = go_signer();
        assert_eq!(signer.key_id(), 0xc74f20a3);
        assert_eq!(signer.verifier().to_string(), GO_VERIFIER_KEY);
        assert_eq!(signer.sign_note(GO_TEXT).unwrap(), GO_NOTE);
    }

    #[test]
    fn go_reference_note_opens_with_its_verifier_key_and_tampering_fails() {
        let verifier = NoteVerifier::parse(GO_VERIFIER_KEY).unwrap();
        assert_eq!(verifier.name(), "PeterNeumann");
        assert_eq!(verifier.key_id(), 0xc74f20a3);
        assert_eq!(verifier.open(GO_NOTE).unwrap(), GO_TEXT);
        let tampered = GO_NOTE.replace("cryptography", "cryptographY");
        assert_eq!(
            verifier.open(&tampered).unwrap_err(),
            AuditError::NoteSignatureInvalid
        );
    }

    #[test]
    fn signing_key_secret_reads_hex_or_base64_seed() {
        let seed = [0x42u8; 32];
        let from_hex =
            NoteSigner::from_secret("n.example/log", &format!(" {}\n", hex::encode(seed))).unwrap();
        let from_b64 = NoteSigner::from_secret("n.example/log", &BASE64.encode(seed)).unwrap();
        let direct = NoteSigner::from_seed("n.example/log", &seed).unwrap();
        assert_eq!(from_hex.public_key(), direct.public_key());
        assert_eq!(from_b64.public_key(), direct.public_key());
        assert_eq!(from_b64.key_id(), direct.key_id());
    }

    #[test]
    fn malformed_signing_key_is_a_coded_error_that_hides_the_secret() {
        let secret_31 = hex::encode([0xabu8; 31]);
        for secret in ["", "not a key", &secret_31, &BASE64.encode([1u8; 33])] {
            let err = NoteSigner::from_secret("n.example/log", secret).unwrap_err();
            assert_eq!(err.code(), "AUDIT_SIGNING_KEY_MALFORMED");
            if !secret.is_empty() {
                assert!(!err.to_string().contains(secret));
            }
        }
        assert_eq!(
            NoteSigner::from_secret("bad name", &hex::encode([1u8; 32]))
                .unwrap_err()
                .code(),
            "AUDIT_KEY_NAME_INVALID"
        );
        let debug = format!("{:?}", test_signer());
        assert!(debug.contains("redacted") && !debug.contains(&hex::encode([7u8; 32])));
    }

    #[test]
    fn key_names_follow_the_signed_note_rules() {
        for bad in ["", "a b", "a+b", "a\tb", "a\u{a0}b", "a\u{1}b"] {
            assert_eq!(
                check_key_name(bad),
                Err(AuditError::KeyNameInvalid),
                "{bad:?}"
            );
        }
        assert!(check_key_name("paul-p.example/audit").is_ok());
    }

    #[test]
    fn verifier_key_string_round_trips_and_rejects_bad_shapes() {
        let key = test_signer().verifier().to_string();
        assert_eq!(NoteVerifier::parse(&key).unwrap().to_string(), key);
        let (name, rest) = key.split_once('+').unwrap();
        let (id, material) = rest.split_once('+').unwrap();
        let wrong_id = format!(
            "{name}+{:08x}+{material}",
            u32::from_str_radix(id, 16).unwrap() ^ 1
        );
        let mut other_alg = BASE64.decode(material).unwrap();
        other_alg[0] = 0x02;
        let wrong_alg = format!("{name}+{id}+{}", BASE64.encode(other_alg));
        for bad in [
            "",
            "name-only",
            "name+c74f20a3",
            &format!("{name}+{}+{material}", &id[..7]),
            &wrong_id,
            &wrong_alg,
            &format!("{name}+{id}+!!!"),
        ] {
            assert_eq!(
                NoteVerifier::parse(bad).unwrap_err().code(),
                "AUDIT_VERIFIER_KEY_MALFORMED",
                "{bad}"
            );
        }
    }

    #[test]
    fn signatures_from_other_keys_are_ignored_but_one_is_required() {
        let ours = test_signer();
        let other = NoteSigner::from_seed("other.example", &[9u8; 32]).unwrap();
        let text = "hello\n";
        let by_other = other.sign_note(text).unwrap();
        assert_eq!(
            ours.verifier().open(&by_other).unwrap_err(),
            AuditError::NoteUnverified
        );
        // Both signatures on one note: ours verifies, the other is ignored.
        let ours_line = ours.sign_note(text).unwrap();
        let both = format!("{by_other}{}", &ours_line[text.len() + 1..]);
        assert_eq!(ours.verifier().open(&both).unwrap(), text);
        assert_eq!(other.verifier().open(&both).unwrap(), text);
    }

    #[test]
    fn a_forged_signature_under_our_name_and_id_rejects_the_note() {
        let signer = test_signer();
        let note = signer.sign_note("hello\n").unwrap();
        let (head, b64) = note.trim_end().rsplit_once(' ').unwrap();
        let mut blob = BASE64.decode(b64).unwrap();
        blob[10] ^= 0x01;
        let forged = format!("{head} {}\n", BASE64.encode(blob));
        assert_eq!(
            signer.verifier().open(&forged).unwrap_err(),
            AuditError::NoteSignatureInvalid
        );
    }

    #[test]
    fn malformed_notes_are_refused() {
        let signer = test_signer();
        let good = signer.sign_note("a\n").unwrap();
        let sig_line = good.split_once("\n\n").unwrap().1;
        for bad in [
            String::new(),
            "a\n".to_string(),
            "a\n\n".to_string(),
            format!("a\n\n{}", sig_line.trim_end()),
            format!("a\r\n\n{sig_line}"),
            format!("a\n\n- x {}", &sig_line[4..]),
            "a\n\n\u{2014} nameonly\n".to_string(),
            "a\n\n\u{2014} name AAAA\n".to_string(),
        ] {
            assert_eq!(
                signer.verifier().open(&bad).unwrap_err().code(),
                "AUDIT_NOTE_MALFORMED",
                "{bad:?}"
            );
        }
        assert_eq!(
            signer.sign_note("no newline").unwrap_err().code(),
            "AUDIT_NOTE_MALFORMED"
        );
    }

    #[test]
    fn checkpoint_body_has_the_documented_six_lines() {
        let cp = checkpoint(200);
        let body = cp.to_body();
        let lines: Vec<&str> = body.lines().collect();
        assert_eq!(lines[0], "paul-p.example/audit");
        assert_eq!(lines[1], "200");
        assert_eq!(lines[2], Hash32::sha256(&[b"root"]).to_base64());
        assert_eq!(
            lines[3],
            format!("chain-head {}", Hash32::sha256(&[b"chain"]).to_base64())
        );
        assert_eq!(
            lines[4],
            format!("prev-anchor {}", anchor_genesis().to_base64())
        );
        assert_eq!(lines[5], "timestamp-ms 1767229200000");
        assert_eq!(lines.len(), 6);
        assert_eq!(cp.anchor_hash(), Hash32::sha256(&[body.as_bytes()]));
        assert_eq!(
            anchor_genesis().to_hex(),
            "b32489d16d666b7d61c9b19c8705f3a9b1408a6b2014f44697c21dd18f2f13c2"
        );
    }

    #[test]
    fn signed_checkpoint_opens_to_the_same_checkpoint() {
        let signer = test_signer();
        let cp = checkpoint(0);
        let note = sign_checkpoint(&cp, &signer).unwrap();
        assert!(note.starts_with(&cp.to_body()));
        assert!(note.contains("\n\n\u{2014} paul-p.example/audit "));
        assert_eq!(open_checkpoint(&note, &signer.verifier()).unwrap(), cp);
        assert_eq!(read_checkpoint_unverified(&note).unwrap(), cp);
    }

    #[test]
    fn checkpoint_origin_must_be_the_key_name() {
        let other = NoteSigner::from_seed("other.example", &[9u8; 32]).unwrap();
        assert_eq!(
            sign_checkpoint(&checkpoint(1), &other).unwrap_err().code(),
            "AUDIT_CHECKPOINT_ORIGIN_MISMATCH"
        );
        let mismatched = checkpoint(1)
            .to_body()
            .replace("paul-p.example/audit", "x.example");
        let note = test_signer().sign_note(&mismatched).unwrap();
        assert_eq!(
            open_checkpoint(&note, &test_signer().verifier())
                .unwrap_err()
                .code(),
            "AUDIT_CHECKPOINT_ORIGIN_MISMATCH"
        );
    }

    #[test]
    fn checkpoint_parsing_is_strict() {
        let body = checkpoint(200).to_body();
        let root = Hash32::sha256(&[b"root"]).to_base64();
        let cases = [
            body.replacen("\n200\n", "\n0200\n", 1),
            body.replacen("\n200\n", "\n+200\n", 1),
            body.replacen("\n200\n", "\n-1\n", 1),
            body.replacen(&root, &root.replace('=', ""), 1),
            body.replacen("chain-head ", "chain ", 1),
            body.replacen("timestamp-ms 1767229200000", "timestamp-ms 01", 1),
            body.replacen("timestamp-ms 1767229200000\n", "", 1),
            format!("{body}extra\n"),
            body.trim_end().to_string(),
        ];
        for bad in cases {
            assert_eq!(
                Checkpoint::parse_body(&bad).unwrap_err().code(),
                "AUDIT_CHECKPOINT_MALFORMED",
                "{bad:?}"
            );
        }
        assert_eq!(Checkpoint::parse_body(&body).unwrap(), checkpoint(200));
    }
}

/// The seed corpus of the `checkpoint` fuzz target (`fuzz/seeds/checkpoint/`): notes the
/// target's fixed verifier opens, so fuzzing starts from the accepting path. Pinned here so a
/// format change that strands the seeds fails a unit test.
#[cfg(test)]
mod fuzz_seeds {
    use super::*;

    fn expected() -> Vec<(&'static str, String)> {
        let fixed = |byte: &str| NoteSigner::from_secret("paul-p/audit", &byte.repeat(32)).unwrap();
        let (current, previous) = (fixed("11"), fixed("22"));
        let h = |s: &str| Hash32::sha256(&[s.as_bytes()]);
        let plain = Checkpoint::new(
            "paul-p/audit",
            7,
            h("root"),
            h("chain"),
            anchor_genesis(),
            1_763_800_000_000,
        )
        .unwrap();
        let handover = Checkpoint::new(
            "paul-p/audit",
            12,
            h("root2"),
            h("chain2"),
            plain.anchor_hash(),
            1_763_803_600_000,
        )
        .unwrap()
        .with_previous_key(previous.verifier())
        .unwrap();
        vec![
            ("signed.txt", sign_checkpoint(&plain, &current).unwrap()),
            (
                "handover.txt",
                sign_handover(&handover, &previous, &current).unwrap(),
            ),
            ("verifier.txt", format!("{}\n", current.verifier())),
        ]
    }

    #[test]
    fn the_fuzz_seeds_are_notes_the_fuzz_verifier_opens() {
        let seeds = [
            (
                "signed.txt",
                include_str!("../../../fuzz/seeds/checkpoint/signed.txt"),
            ),
            (
                "handover.txt",
                include_str!("../../../fuzz/seeds/checkpoint/handover.txt"),
            ),
            (
                "verifier.txt",
                include_str!("../../../fuzz/seeds/checkpoint/verifier.txt"),
            ),
        ];
        for ((name, text), (seed_name, seed)) in expected().iter().zip(seeds) {
            assert_eq!(
                (*name, text.as_str()),
                (seed_name, seed),
                "regenerate {name}"
            );
        }
        // What the fuzz target opens with: the key of seed "11".
        let verifier = NoteVerifier::parse(seeds[2].1.trim_end()).unwrap();
        for (_, note) in &seeds[..2] {
            let cp = open_checkpoint(note, &verifier).unwrap();
            assert_eq!(Checkpoint::parse_body(&cp.to_body()).unwrap(), cp);
        }
    }
}
