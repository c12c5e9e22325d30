//! The OpenAPI 3.1 description of every route (`docs/openapi.yaml`), compiled in and served at
//! `GET /admin/openapi.yaml`. The tests hold it to the route table: a route missing from the
//! document, or documented but not served, fails them.

/// `docs/openapi.yaml`.
pub const DOCUMENT: &str = include_str!("../../docs/openapi.yaml");

#[cfg(test)]
mod tests {
    use super::DOCUMENT;
    use crate::http::router::{Access, Body, ROUTES};
    use serde_json::Value;
    use std::collections::BTreeSet;

    const METHODS: [&str; 8] = [
        "get", "put", "post", "delete", "patch", "head", "options", "trace",
    ];

    fn document() -> Value {
        serde_norway::from_str(DOCUMENT).expect("docs/openapi.yaml is valid YAML")
    }

    /// Follows a local `$ref` (`#/components/...`) if `v` is one.
    fn resolve<'a>(doc: &'a Value, v: &'a Value) -> &'a Value {
        match v.get("$ref").and_then(Value::as_str) {
            Some(r) => {
                let pointer = r.strip_prefix('#').expect("local $ref");
                doc.pointer(pointer)
                    .unwrap_or_else(|| panic!("unresolved $ref {r}"))
            }
            None => v,
        }
    }

    fn operations(doc: &Value) -> Vec<(String, String, &Value)> {
        let mut out = Vec::new();
        for (path, item) in doc["paths"].as_object().expect("paths") {
            for (method, op) in item.as_object().expect("path item") {
                if METHODS.contains(&method.as_str()) {
                    out.push((method.to_uppercase(), path.clone(), op));
                }
            }
        }
        out
    }

    #[test]
    fn document_is_openapi_3_1() {
        let doc = document();
        assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
        assert!(doc["info"]["title"].is_string());
        assert!(doc["components"]["schemas"]["Error"].is_object());
    }

    #[test]
    fn every_route_is_documented_and_nothing_else() {
        let doc = document();
        let documented: BTreeSet<(String, String)> = operations(&doc)
            .into_iter()
            .map(|(m, p, _)| (m, p))
            .collect();
        let served: BTreeSet<(String, String)> = ROUTES
            .iter()
            .map(|r| (r.method.to_string(), r.pattern.to_string()))
            .collect();
        let missing: Vec<_> = served.difference(&documented).collect();
        let extra: Vec<_> = documented.difference(&served).collect();
        assert!(
            missing.is_empty(),
            "routes in http::router::ROUTES missing from docs/openapi.yaml: {missing:?}"
        );
        assert!(
            extra.is_empty(),
            "docs/openapi.yaml documents routes the router does not serve: {extra:?}"
        );
    }

    #[test]
    fn operations_match_access_parameters_and_bodies() {
        let doc = document();
        let mut operation_ids = BTreeSet::new();
        for spec in ROUTES {
            let op = &doc["paths"][spec.pattern][spec.method.to_lowercase()];
            let name = format!("{} {}", spec.method, spec.pattern);
            let id = op["operationId"]
                .as_str()
                .unwrap_or_else(|| panic!("{name}: operationId"));
            assert!(
                operation_ids.insert(id.to_string()),
                "{name}: duplicate operationId {id}"
            );

            // Public routes (and the dashboard's page shell, which holds no data) opt out of the
            // document-wide security; admin routes never do.
            let open = op
                .get("security")
                .and_then(Value::as_array)
                .is_some_and(|s| s.is_empty());
            assert_eq!(
                open,
                matches!(spec.access, Access::Public | Access::PageShell),
                "{name}: security"
            );

            // Every `{param}` of the pattern is a required path parameter, and no others.
            let in_pattern: BTreeSet<&str> = spec
                .pattern
                .split('/')
                .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
                .collect();
            let declared: BTreeSet<&str> = op["parameters"]
                .as_array()
                .map(|ps| {
                    ps.iter()
                        .map(|p| resolve(&doc, p))
                        .filter(|p| p["in"] == "path")
                        .map(|p| {
                            assert_eq!(p["required"], true, "{name}: path params are required");
                            p["name"].as_str().expect("parameter name")
                        })
                        .collect()
                })
                .unwrap_or_default();
            assert_eq!(declared, in_pattern, "{name}: path parameters");

            // A request body exactly when the route reads one; required when it must be there.
            let body = op.get("requestBody").map(|b| resolve(&doc, b));
            match spec.body {
                Body::None => assert!(body.is_none(), "{name}: takes no body"),
                Body::Json | Body::OptionalJson => {
                    let body = body.unwrap_or_else(|| panic!("{name}: requestBody"));
                    assert_eq!(
                        body["required"].as_bool().unwrap_or(false),
                        spec.body == Body::Json,
                        "{name}: requestBody.required"
                    );
                    assert!(
                        body["content"]["application/json"]["schema"].is_object(),
                        "{name}: JSON body schema"
                    );
                }
            }

            // Failures are documented as the error envelope.
            let responses = op["responses"].as_object().expect("responses");
            assert!(
                responses.keys().any(|k| k.starts_with('2')),
                "{name}: a success response"
            );
            let default = resolve(&doc, &op["responses"]["default"]);
            assert_eq!(
                default["content"]["application/json"]["schema"]["$ref"],
                "#/components/schemas/Error",
                "{name}: default response is the error envelope"
            );
            if spec.access == Access::Admin {
                let unauth = resolve(&doc, &op["responses"]["401"]);
                assert!(unauth.is_object(), "{name}: documents 401");
            }
        }
    }

    #[test]
    fn every_ref_resolves() {
        fn walk(doc: &Value, v: &Value) {
            match v {
                Value::Object(m) => {
                    if m.contains_key("$ref") {
                        resolve(doc, v);
                    }
                    m.values().for_each(|c| walk(doc, c));
                }
                Value::Array(a) => a.iter().for_each(|c| walk(doc, c)),
                _ => {}
            }
        }
        let doc = document();
        walk(&doc, &doc);
    }

    #[test]
    fn error_envelope_schema_matches_api_error() {
        let doc = document();
        let schema = &doc["components"]["schemas"]["Error"];
        let body = crate::http::error::ApiError::not_found().body();
        for key in schema["properties"]["error"]["required"]
            .as_array()
            .unwrap()
        {
            assert!(body["error"].get(key.as_str().unwrap()).is_some(), "{key}");
        }
        assert_eq!(body["error"].as_object().unwrap().len(), 3);
    }
}
