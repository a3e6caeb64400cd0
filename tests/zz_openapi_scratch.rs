#[test]
fn dump() {
    let doc: serde_json::Value = serde_json::from_str(&workspace_gateway::openapi::document_json()).unwrap();
    println!("{}", doc["components"]["schemas"]["CheckName"]["enum"]);
}
