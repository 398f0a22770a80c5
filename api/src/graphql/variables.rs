//! Variable coercion before anything runs (GraphQL spec, `CoerceVariableValues`): a variable
//! declared non-null without a default must have a non-null value. async-graphql checks the
//! values it is given against the arguments they fill (a validation rule), but finds a missing
//! one only when a resolver reads it, after other fields may have run; here it is a request
//! error, `BAD_USER_INPUT` with the rule `variables.required`, and no `data` (a 400 under
//! `application/graphql-response+json`, negotiation.rs), on every transport.

use super::checks::{Prepared, RequestCheck, with_code};
use async_graphql::parser::types::{DocumentOperations, ExecutableDocument, OperationDefinition};
use async_graphql::{ServerError, ServerResult, Value, Variables};

/// The schema extension that refuses a request missing a required variable.
#[derive(Clone, Copy, Debug, Default)]
pub struct RequiredVariables;

impl RequestCheck for RequiredVariables {
    fn check_prepared(&self, request: &Prepared<'_>) -> ServerResult<()> {
        // a document that does not parse: async-graphql reports it
        request.document.map_or(Ok(()), |document| check(document, request.operation_name, request.variables))
    }
}

/// The operation a request runs (async-graphql refuses an unknown or ambiguous one itself).
pub(super) fn selected<'d>(document: &'d ExecutableDocument, name: Option<&str>) -> Option<&'d OperationDefinition> {
    match (&document.operations, name) {
        (DocumentOperations::Single(operation), _) => Some(&operation.node),
        (DocumentOperations::Multiple(operations), Some(name)) => {
            operations.iter().find(|(n, _)| n.as_str() == name).map(|(_, o)| &o.node)
        }
        (DocumentOperations::Multiple(operations), None) if operations.len() == 1 => {
            operations.values().next().map(|o| &o.node)
        }
        _ => None,
    }
}

fn check(document: &ExecutableDocument, operation_name: Option<&str>, variables: &Variables) -> ServerResult<()> {
    let Some(operation) = selected(document, operation_name) else { return Ok(()) };
    for definition in &operation.variable_definitions {
        let definition = &definition.node;
        let name = &definition.name.node;
        let missing = matches!(variables.get(name), None | Some(Value::Null));
        if !definition.var_type.node.nullable && definition.default_value.is_none() && missing {
            let message = format!("la variable ${name} (de type {}) est obligatoire", definition.var_type.node);
            let mut error = with_code(ServerError::new(message, Some(definition.name.pos)), "BAD_USER_INPUT");
            if let Some(extensions) = error.extensions.as_mut() {
                extensions.set("rule", "variables.required");
            }
            return Err(error);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(query: &str, variables: serde_json::Value) -> Result<(), String> {
        let document = async_graphql::parser::parse_query(query).expect("a document");
        check(&document, None, &Variables::from_json(variables)).map_err(|e| e.message)
    }

    #[test]
    fn a_required_variable_needs_a_value() {
        let query = "query($id: ID!, $n: Int, $d: Int! = 3) { node(id: $id) { id } }";
        assert_eq!(run(query, serde_json::json!({ "id": "x" })), Ok(()));
        assert!(run(query, serde_json::json!({})).unwrap_err().contains("$id (de type ID!) est obligatoire"));
        assert!(run(query, serde_json::json!({ "id": null })).is_err(), "null is no value");
    }
}
