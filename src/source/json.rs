//! JSON lines: one flat JSON object per line, the general path: serde_json parses a line into
//! the fields of the columns (the first object's keys) as texts the typed parsers of `values`
//! read, so both text formats share inference and validation. The common line takes the fast
//! path instead (`json_fast`), with the same results. Pure functions, callable from any thread.

use csv::ByteRecord;

/// A JSON-lines record: one object, its keys unique (a repeated key is an error, never a
/// silent choice between the two values).
struct Object(serde_json::Map<String, serde_json::Value>);

impl<'de> serde::Deserialize<'de> for Object {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Object, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = Object;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut m: A,
            ) -> std::result::Result<Object, A::Error> {
                let mut obj = serde_json::Map::new();
                while let Some(k) = m.next_key::<String>()? {
                    if obj.contains_key(&k) {
                        return Err(serde::de::Error::custom(format_args!(
                            "duplicate key `{k}`"
                        )));
                    }
                    let v = m.next_value()?;
                    obj.insert(k, v);
                }
                Ok(Object(obj))
            }
        }
        d.deserialize_map(Visit)
    }
}

/// Parses one line as a JSON object; the error names the column within the line (serde_json's
/// own "line 1" would contradict the input line number the report carries).
pub(super) fn parse_object(
    line: &[u8],
) -> std::result::Result<serde_json::Map<String, serde_json::Value>, String> {
    serde_json::from_slice::<Object>(line)
        .map(|o| o.0)
        .map_err(|e| {
            let text = e.to_string();
            let suffix = format!(" at line {} column {}", e.line(), e.column());
            match text.strip_suffix(&suffix) {
                Some(msg) if e.column() > 0 => format!("{msg} (at byte {})", e.column()),
                Some(msg) => msg.to_string(),
                None => text,
            }
        })
}

/// The fields of `obj` in `keys` order, or why it is malformed.
pub(super) fn json_record(
    obj: &serde_json::Map<String, serde_json::Value>,
    keys: &[String],
) -> std::result::Result<ByteRecord, String> {
    let mut rec = ByteRecord::new();
    for k in keys {
        match obj.get(k) {
            Some(v @ (serde_json::Value::Object(_) | serde_json::Value::Array(_))) => {
                let what = if v.is_object() {
                    "an object"
                } else {
                    "an array"
                };
                return Err(format!(
                    "field `{k}` is {what}; a column holds a number, string, boolean or null"
                ));
            }
            Some(v) => rec.push_field(json_text(v).as_bytes()),
            // A missing key is NULL, like an explicit null.
            None => rec.push_field(b""),
        }
    }
    Ok(rec)
}

pub(super) fn json_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    }
}
