//! Opaque page cursors. Kalshi's cursors are base64url tokens; ours look alike so that a
//! client which fails to URL-encode or echo them verbatim is caught, but they only carry the
//! offset of the next item in the filtered list.

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const TAG: &str = "venue-sim:";

/// The cursor for the page starting at `offset`.
pub fn encode_cursor(offset: usize) -> String {
    base64url_encode(format!("{TAG}{offset}").as_bytes())
}

/// The offset a cursor points at; `None` if it is not one of ours.
pub fn decode_cursor(cursor: &str) -> Option<usize> {
    let bytes = base64url_decode(cursor)?;
    let text = String::from_utf8(bytes).ok()?;
    text.strip_prefix(TAG)?.parse().ok()
}

/// One page of `total` items: the index range to serve and the next cursor (`""` when this
/// page reaches the end, so a full last page is not followed by an empty one).
pub fn page(total: usize, offset: usize, limit: usize) -> (std::ops::Range<usize>, String) {
    let start = offset.min(total);
    let end = start.saturating_add(limit).min(total);
    let next = if end < total {
        encode_cursor(end)
    } else {
        String::new()
    };
    (start..end, next)
}

fn base64url_encode(input: &[u8]) -> String {
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let symbols = chunk.len() + 1;
        for i in 0..symbols {
            out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

fn base64url_decode(input: &str) -> Option<Vec<u8>> {
    let mut values = Vec::with_capacity(input.len());
    for c in input.bytes() {
        values.push(ALPHABET.iter().position(|&a| a == c)? as u32);
    }
    if values.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(values.len() * 3 / 4);
    for chunk in values.chunks(4) {
        let mut n = 0u32;
        for (i, v) in chunk.iter().enumerate() {
            n |= v << (18 - 6 * i);
        }
        for i in 0..chunk.len() - 1 {
            out.push((n >> (16 - 8 * i)) as u8);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_foreign_tokens() {
        for offset in [0, 1, 999, 1000, 123_456] {
            let c = encode_cursor(offset);
            assert!(c
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
            assert_eq!(decode_cursor(&c), Some(offset));
        }
        assert_eq!(decode_cursor("garbage-cursor-fixture"), None);
        assert_eq!(decode_cursor(""), None);
        assert_eq!(decode_cursor("%%%"), None);
    }

    #[test]
    fn last_page_has_empty_cursor_even_when_full() {
        let (range, next) = page(2000, 1000, 1000);
        assert_eq!(range, 1000..2000);
        assert_eq!(next, "");
        let (range, next) = page(2001, 1000, 1000);
        assert_eq!(range, 1000..2000);
        assert_eq!(decode_cursor(&next), Some(2000));
        let (range, next) = page(10, 50, 5);
        assert!(range.is_empty());
        assert_eq!(next, "");
    }
}
