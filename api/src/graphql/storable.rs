//! Values a request may carry into the store. What GraphQL accepts and the store cannot hold
//! would fail in the database, an internal error for the client's mistake; the fuzz test
//! (`tests/server/fuzz.rs`) found two kinds, refused here as `BAD_USER_INPUT` before
//! anything runs:
//! - **NUL** (U+0000) in a string, anywhere in the document or the variables: neither
//!   PostgreSQL's `text` nor its `jsonb` can store it (a filter or an input carrying one failed).
//! - **Dates and timestamps outside the years 1 to 9999** (`NaiveDate`, `DateTime` arguments,
//!   input fields and variables): chrono reads `+99999-01-01` or `0000-01-01`, but writes them
//!   in a form PostgreSQL does not read back, so that the projection of the event failed.
//! - **Integers beyond 32 bits** (every `Int` argument, input field and variable): GraphQL's
//!   `Int` is a signed 32-bit integer, and the read models store counts, capacities, progress
//!   and headcounts as 32-bit integers; async-graphql reads an `i64` argument up to 2^63, which
//!   PostgreSQL then refused (an internal error) and SQLite stored (indicators summed
//!   2 147 484 960 visitors). Refused with rule `int.out_of_range`, on both backends alike.
//!
//! Dates and integers are found by their type: the document is walked with the schema's registry (each
//! field's arguments, input objects' fields, lists), and variables by their declared type.

use super::checks::{Prepared, RequestCheck, with_code};
use async_graphql::parser::types::{Directive, ExecutableDocument, OperationType, Selection, SelectionSet};
use async_graphql::registry::{MetaType, Registry};
use async_graphql::{Pos, Positioned, ServerError, ServerResult, Value, Variables};
use chrono::{DateTime, Datelike, NaiveDate, Utc};
use std::ops::RangeInclusive;

/// The years of the dates and timestamps Carnet stores.
pub const YEARS: RangeInclusive<i32> = 1..=9999;

/// The schema extension that refuses what the store cannot hold.
#[derive(Clone, Copy, Debug, Default)]
pub struct StorableInputs;

impl RequestCheck for StorableInputs {
    fn check_prepared(&self, request: &Prepared<'_>) -> ServerResult<()> {
        let variables = request.variables;
        match request.document {
            Some(document) => check(request.registry, document, variables),
            // async-graphql reports the document; the variables' NULs still count
            None => variables.iter().find(|(_, v)| nul_in(v)).map_or(Ok(()), |_| Err(Unstorable::Nul(None))),
        }
        .map_err(Unstorable::into_error)
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Unstorable {
    Nul(Option<Pos>),
    Date(String, Option<Pos>),
    Int(String, Option<Pos>),
}

/// The rule an integer beyond [`i32`] breaks.
pub const INT_RULE: &str = "int.out_of_range";

impl Unstorable {
    fn into_error(self) -> ServerError {
        let (message, pos) = match self {
            Self::Nul(pos) => (
                "un texte de la requête contient le caractère nul (U+0000), que Carnet ne peut pas enregistrer".into(),
                pos,
            ),
            Self::Date(date, pos) => (
                format!(
                    "date hors de ce que Carnet enregistre (années {} à {}) : « {date} »",
                    YEARS.start(),
                    YEARS.end()
                ),
                pos,
            ),
            Self::Int(number, pos) => {
                let message = format!(
                    "nombre hors de ce que Carnet enregistre (entier de {} à {}) : « {number} »",
                    i32::MIN,
                    i32::MAX
                );
                let mut error = with_code(ServerError::new(message, pos), "BAD_USER_INPUT");
                error.extensions.get_or_insert_with(Default::default).set("rule", INT_RULE);
                return error;
            }
        };
        with_code(ServerError::new(message, pos), "BAD_USER_INPUT")
    }
}

fn check(registry: &Registry, document: &ExecutableDocument, variables: &Variables) -> Result<(), Unstorable> {
    if variables.iter().any(|(name, _)| name.contains('\0')) {
        return Err(Unstorable::Nul(None));
    }
    let walk = Walk { registry };
    for (_, operation) in document.operations.iter() {
        let operation = &operation.node;
        for definition in &operation.variable_definitions {
            let definition = &definition.node;
            let ty = definition.var_type.node.to_string();
            if let Some(default) = &definition.default_value {
                walk.value(&ty, &default.node, Some(default.pos))?;
            }
            if let Some(value) = variables.get(&definition.name.node) {
                walk.value(&ty, value, None)?;
            }
            walk.directives(&definition.directives)?;
        }
        // a variable the operation does not declare is refused by validation, yet read by no one
        if variables.iter().any(|(_, v)| nul_in(v)) {
            return Err(Unstorable::Nul(None));
        }
        let root = match operation.ty {
            OperationType::Query => Some(registry.query_type.as_str()),
            OperationType::Mutation => registry.mutation_type.as_deref(),
            OperationType::Subscription => registry.subscription_type.as_deref(),
        };
        walk.directives(&operation.directives)?;
        walk.selection_set(root, &operation.selection_set.node)?;
    }
    for fragment in document.fragments.values() {
        walk.directives(&fragment.node.directives)?;
        walk.selection_set(
            Some(fragment.node.type_condition.node.on.node.as_str()),
            &fragment.node.selection_set.node,
        )?;
    }
    Ok(())
}

/// Whether a literal of the document holds a NUL, and its value with its variables as null
/// (their values are checked apart). async-graphql does not export the type of literals: a
/// macro it is.
macro_rules! constant {
    ($value:expr) => {
        $value.clone().into_const_with(|_| Ok::<_, std::convert::Infallible>(Value::Null)).unwrap_or(Value::Null)
    };
}

struct Walk<'a> {
    registry: &'a Registry,
}

impl Walk<'_> {
    /// The selections of a value of type `type_name` (`None`: unknown, NULs only).
    fn selection_set(&self, type_name: Option<&str>, set: &SelectionSet) -> Result<(), Unstorable> {
        for selection in &set.items {
            match &selection.node {
                Selection::Field(field) => {
                    let field = &field.node;
                    let meta = type_name
                        .and_then(|t| self.registry.types.get(t))
                        .and_then(|t| t.field_by_name(field.name.node.as_str()));
                    for (name, value) in &field.arguments {
                        let ty = meta.and_then(|m| m.args.get(name.node.as_str())).map_or("", |a| a.ty.as_str());
                        self.value(ty, &constant!(value.node), Some(value.pos))?;
                    }
                    self.directives(&field.directives)?;
                    self.selection_set(meta.map(|m| named(&m.ty)), &field.selection_set.node)?;
                }
                Selection::InlineFragment(inline) => {
                    let inline = &inline.node;
                    let on = inline.type_condition.as_ref().map(|c| c.node.on.node.as_str()).or(type_name);
                    self.directives(&inline.directives)?;
                    self.selection_set(on, &inline.selection_set.node)?;
                }
                // each fragment is walked once, on its own type
                Selection::FragmentSpread(spread) => self.directives(&spread.node.directives)?,
            }
        }
        Ok(())
    }

    fn directives(&self, directives: &[Positioned<Directive>]) -> Result<(), Unstorable> {
        for (_, value) in directives.iter().flat_map(|d| &d.node.arguments) {
            self.value("", &constant!(value.node), Some(value.pos))?;
        }
        Ok(())
    }

    /// `value`, of GraphQL type `ty` (`""`: unknown, NULs only).
    fn value(&self, ty: &str, value: &Value, pos: Option<Pos>) -> Result<(), Unstorable> {
        let ty = ty.strip_suffix('!').unwrap_or(ty);
        if let Some(item) = ty.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
            return match value {
                Value::List(items) => items.iter().try_for_each(|v| self.value(item, v, pos)),
                // a single value where a list is expected is a list of one
                single => self.value(item, single, pos),
            };
        }
        match value {
            Value::String(s) if s.contains('\0') => Err(Unstorable::Nul(pos)),
            Value::String(s) if !storable_date(ty, s) => Err(Unstorable::Date(s.clone(), pos)),
            // a float where an Int is expected is async-graphql's to refuse
            Value::Number(n) if ty == "Int" && (n.is_i64() || n.is_u64()) && !n.as_i64().is_some_and(fits_i32) => {
                Err(Unstorable::Int(n.to_string(), pos))
            }
            Value::List(items) => items.iter().try_for_each(|v| self.value("", v, pos)),
            Value::Object(fields) => {
                let input_fields = match self.registry.types.get(ty) {
                    Some(MetaType::InputObject { input_fields, .. }) => Some(input_fields),
                    _ => None,
                };
                for (name, value) in fields {
                    if name.contains('\0') {
                        return Err(Unstorable::Nul(pos));
                    }
                    let ty = input_fields.and_then(|f| f.get(name.as_str())).map_or("", |f| f.ty.as_str());
                    self.value(ty, value, pos)?;
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

/// A date or timestamp within [`YEARS`] (anything else, async-graphql reads or refuses).
fn storable_date(ty: &str, value: &str) -> bool {
    match ty {
        // as async-graphql reads them (chrono's `NaiveDate` and `DateTime<Utc>`)
        "NaiveDate" => NaiveDate::parse_from_str(value, "%Y-%m-%d").map_or(true, |d| YEARS.contains(&d.year())),
        "DateTime" => value.parse::<DateTime<Utc>>().map_or(true, |d| YEARS.contains(&d.year())),
        _ => true,
    }
}

fn fits_i32(n: i64) -> bool {
    i32::try_from(n).is_ok()
}

fn nul_in(value: &Value) -> bool {
    match value {
        Value::String(s) => s.contains('\0'),
        Value::List(items) => items.iter().any(nul_in),
        Value::Object(fields) => fields.iter().any(|(k, v)| k.contains('\0') || nul_in(v)),
        _ => false,
    }
}

/// The named type of a type (`[Project!]!` → `Project`).
fn named(ty: &str) -> &str {
    ty.trim_matches(|c| c == '[' || c == ']' || c == '!')
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the extension says of `query`: `Some("nul")`, `Some("date")` or `None` (let through).
    async fn refusal(query: &str, variables: serde_json::Value) -> Option<&'static str> {
        let schema = super::super::builder().extension(super::super::checks::Checked(StorableInputs)).finish();
        let request = async_graphql::Request::new(query).variables(Variables::from_json(variables));
        let response = schema.execute(request).await;
        let error = response.errors.first()?;
        let code = error.extensions.as_ref().and_then(|e| e.get("code")).cloned();
        match error.message.as_str() {
            m if m.contains("caractère nul") => Some("nul"),
            m if m.starts_with("date hors") => Some("date"),
            _ => None,
        }
        .inspect(|_| assert_eq!(code, Some(Value::from("BAD_USER_INPUT"))))
    }

    #[tokio::test]
    async fn nul_characters_are_found_wherever_they_are() {
        for query in [
            r#"{ projects(filter: { theme: ["a", "\u0000"] }) { totalCount } }"#,
            r#"query($a: String = "\u0000") { __typename }"#,
            r#"{ __typename @include(if: true) ... on Query @skip(if: false) { a(x: { y: [[ "b\u0000c" ]] }) } }"#,
            "{ ...F } fragment F on Query { a(x: \"\"\"\u{0}\"\"\") }",
        ] {
            assert_eq!(refusal(query, serde_json::json!({})).await, Some("nul"), "{query}");
        }
        let variables = serde_json::json!({ "f": { "theme": ["\u{0}"] } });
        let query = "query($f: ProjectFilterInput) { projects(filter: $f) { totalCount } }";
        assert_eq!(refusal(query, variables).await, Some("nul"));
        let escaped = r#"{ a(x: "\\u0000 is how JSON writes it") }"#;
        assert_eq!(refusal(escaped, serde_json::json!({})).await, None);
    }

    #[tokio::test]
    async fn dates_are_found_by_their_type() {
        let request = "mutation($on: NaiveDate!) { requestSession(input: { format: ACCULTURATION, methods: [],
            objective: \"o\", requestedOn: $on, requester: { kind: ACADEMIE, organisation: \"x\" }, title: \"t\" }) {
            clientMutationId } }";
        for date in ["+99999-01-01", "0000-01-01", "-0001-12-31"] {
            assert_eq!(refusal(request, serde_json::json!({ "on": date })).await, Some("date"), "{date}");
        }
        assert_eq!(refusal(request, serde_json::json!({ "on": "9999-12-31" })).await, None);
        assert_eq!(refusal(request, serde_json::json!({ "on": "hier" })).await, None, "async-graphql's to refuse");
        let literal = "{ project(id: \"x\", asOf: \"+10000-01-01T00:00:00Z\") { id } }";
        assert_eq!(refusal(literal, serde_json::json!({})).await, Some("date"));
        let offset = "{ ...F } fragment F on Query { project(id: \"x\", asOf: \"9999-12-31T23:00:00-05:00\") { id } }";
        assert_eq!(refusal(offset, serde_json::json!({})).await, Some("date"), "year 10000 in UTC");
        let text = r#"{ projects(filter: { theme: ["+99999-01-01"] }) { totalCount } }"#;
        assert_eq!(refusal(text, serde_json::json!({})).await, None, "a date only where a date is expected");
    }
}
