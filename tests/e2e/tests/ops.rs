//! Operator experience end to end: the OpenAPI description served by the Worker.

use paul_p_e2e::shared;

#[test]
fn openapi_document_is_served_to_operators_only() {
    let stack = shared();
    let r = stack.get("/admin/openapi.yaml", Some(&stack.tokens.admin));
    assert_eq!(r.status, 200);
    assert!(
        r.header("content-type")
            .is_some_and(|c| c.starts_with("application/yaml")),
        "{:?}",
        r.header("content-type")
    );
    assert_eq!(r.text(), paul_p::http::openapi::DOCUMENT);
    let r = stack.get("/admin/openapi.yaml", None);
    assert_eq!(r.status, 401);
    assert_eq!(r.error_code(), "UNAUTHENTICATED");
}
