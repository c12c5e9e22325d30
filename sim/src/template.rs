//! Recorded JSON objects with some top-level fields left as holes: serialised once, then
//! rendered many times by splicing values in. Synthetic markets are copies of a few hundred
//! recordings, and re-serialising each full object would dominate start-up.

use serde_json::Value;

/// A serialised JSON object whose listed top-level fields are holes.
#[derive(Debug, Clone)]
pub struct JsonTemplate {
    /// Text between holes; one more than `holes`.
    pieces: Vec<String>,
    /// For each hole in text order, the index of its field in the list given to `new`.
    holes: Vec<usize>,
}

impl JsonTemplate {
    /// Serialises `object` with each of `fields` that it contains turned into a hole. Fields
    /// it lacks stay absent when rendered, so the recorded key set is kept exactly.
    pub fn new(object: &Value, fields: &[&str]) -> Result<JsonTemplate, String> {
        let mut marked = object.clone();
        let map = marked
            .as_object_mut()
            .ok_or("a template must be a JSON object")?;
        let marker = |i: usize| format!("\u{0}venue-sim-hole-{i}\u{0}");
        for (i, field) in fields.iter().enumerate() {
            if let Some(slot) = map.get_mut(*field) {
                *slot = Value::String(marker(i));
            }
        }
        let mut text = marked.to_string();
        let mut found: Vec<(usize, usize)> = Vec::new(); // (position, field index)
        for i in 0..fields.len() {
            let serialised = Value::String(marker(i)).to_string();
            if let Some(pos) = text.find(&serialised) {
                found.push((pos, i));
            }
        }
        found.sort_unstable();
        let mut pieces = Vec::with_capacity(found.len() + 1);
        let mut holes = Vec::with_capacity(found.len());
        // Cut from the end so earlier positions stay valid.
        for &(pos, i) in found.iter().rev() {
            let len = Value::String(marker(i)).to_string().len();
            pieces.push(text.split_off(pos + len));
            text.truncate(pos);
            holes.push(i);
        }
        pieces.push(text);
        pieces.reverse();
        holes.reverse();
        Ok(JsonTemplate { pieces, holes })
    }

    /// The object with `values[i]` in the hole of `fields[i]`.
    pub fn render(&self, values: &[Value]) -> String {
        let mut out =
            String::with_capacity(self.pieces.iter().map(String::len).sum::<usize>() + 256);
        out.push_str(&self.pieces[0]);
        for (k, &field) in self.holes.iter().enumerate() {
            out.push_str(&values[field].to_string());
            out.push_str(&self.pieces[k + 1]);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn renders_like_serialising_the_modified_object() {
        let object = json!({"a": 1, "b": "x", "c": {"b": "nested"}, "d": [1, 2]});
        let template = JsonTemplate::new(&object, &["b", "missing", "d"]).unwrap();
        let values = [json!("y\"z"), json!("ignored"), json!({"k": true})];
        let rendered = template.render(&values);
        let expected = json!({"a": 1, "b": "y\"z", "c": {"b": "nested"}, "d": {"k": true}});
        assert_eq!(rendered, expected.to_string());
        assert!(!rendered.contains("missing"));
    }
}
