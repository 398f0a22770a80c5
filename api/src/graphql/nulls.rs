//! Null propagation at the root (GraphQL spec, "Handling Execution Errors"): a root field
//! that fails is `null` in `data` when its type is nullable, and makes `data` itself `null`
//! when it is not. async-graphql drops the failed field's key from its object instead, so
//! that a client reading a non-null field found neither a value nor a `null`; this module
//! restores the spec's answer for the root fields, after execution, from the document and
//! the schema.
//!
//! Which root fields are nullable (the SDL says so, `schema.graphql`): the lookups of one
//! entity by id, which may be `NOT_FOUND` (`node`, `project`, `session`, `person`, `history`),
//! as GitHub's `node` and `repository`, and `indicators`, whose `asOf` folds may be refused as
//! `BUSY` one alias at a time; a client asking for several things in one request then keeps
//! the others when one is missing. Lists, connections over filters, the caller (`me`) and
//! `integrity` are non-null: when they fail, nothing in the answer
//! can be trusted, and `data` is `null`. Mutations are non-null: one mutation per request.
//!
//! Deeper fields keep async-graphql's behaviour (the key of a failed field is left out of its
//! object, the error names its path).

use async_graphql::parser::types::{
    ExecutableDocument, OperationType, Selection, SelectionSet, TypeKind, TypeSystemDefinition,
};
use async_graphql::{PathSegment, Positioned, Value};
use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

/// Whether each root field of the schema is nullable, by operation type and field name.
static ROOTS: LazyLock<HashMap<(&'static str, String), bool>> = LazyLock::new(|| {
    let mut roots = HashMap::new();
    let Ok(schema) = async_graphql::parser::parse_schema(super::sdl()) else { return roots };
    for definition in schema.definitions {
        let TypeSystemDefinition::Type(ty) = definition else { continue };
        let root = match ty.node.name.node.as_str() {
            "Query" => "query",
            "Mutation" => "mutation",
            _ => continue,
        };
        if let TypeKind::Object(object) = ty.node.kind {
            for field in object.fields {
                roots.insert((root, field.node.name.node.to_string()), field.node.ty.node.nullable);
            }
        }
    }
    roots
});

/// The root fields an operation selects: response key and field name, in document order.
#[derive(Debug, Default)]
pub struct RootFields {
    root: &'static str,
    fields: Vec<(String, String)>,
}

impl RootFields {
    /// The root fields of the operation `request` runs (none if its document does not parse:
    /// it will not run).
    pub fn of(request: &mut async_graphql::Request) -> Self {
        let name = request.operation_name.clone();
        let Ok(document) = request.parsed_query() else { return Self::default() };
        let Some(operation) = super::variables::selected(document, name.as_deref()) else { return Self::default() };
        let root = match operation.ty {
            OperationType::Query => "query",
            OperationType::Mutation => "mutation",
            OperationType::Subscription => "subscription",
        };
        let mut fields = vec![];
        collect(document, &operation.selection_set, &mut fields, &mut HashSet::new());
        Self { root, fields }
    }

    fn nullable(&self, field: &str) -> bool {
        ROOTS.get(&(self.root, field.to_owned())).copied().unwrap_or(false)
    }

    /// Puts `null` for each failed nullable root field, or makes `data` `null` if a failed
    /// root field is not nullable.
    pub fn propagate(&self, response: &mut async_graphql::Response) {
        let failed: HashSet<&str> = response
            .errors
            .iter()
            .filter_map(|e| match e.path.first() {
                Some(PathSegment::Field(key)) => Some(key.as_str()),
                _ => None,
            })
            .collect();
        if failed.is_empty() {
            return;
        }
        let mut data = match std::mem::take(&mut response.data) {
            Value::Object(data) => data,
            Value::Null => Default::default(),
            other => {
                response.data = other;
                return;
            }
        };
        let mut rebuilt = async_graphql::indexmap::IndexMap::new();
        for (key, field) in &self.fields {
            let name = async_graphql::Name::new(key);
            if let Some(value) = data.shift_remove(&name) {
                rebuilt.insert(name, value);
            } else if failed.contains(key.as_str()) {
                if !self.nullable(field) {
                    response.data = Value::Null;
                    return;
                }
                rebuilt.insert(name, Value::Null);
            }
        }
        // anything else async-graphql answered stays, after
        rebuilt.extend(data);
        response.data = if rebuilt.is_empty() { Value::Null } else { Value::Object(rebuilt) };
    }
}

fn collect<'d>(
    document: &'d ExecutableDocument,
    set: &'d Positioned<SelectionSet>,
    fields: &mut Vec<(String, String)>,
    seen: &mut HashSet<&'d str>,
) {
    for selection in &set.node.items {
        match &selection.node {
            Selection::Field(field) => {
                let key = field.node.response_key().node.to_string();
                if !fields.iter().any(|(k, _)| *k == key) {
                    fields.push((key, field.node.name.node.to_string()));
                }
            }
            Selection::InlineFragment(inline) => collect(document, &inline.node.selection_set, fields, seen),
            Selection::FragmentSpread(spread) => {
                let name = spread.node.fragment_name.node.as_str();
                if seen.insert(name)
                    && let Some(fragment) = document.fragments.get(&spread.node.fragment_name.node)
                {
                    collect(document, &fragment.node.selection_set, fields, seen);
                }
            }
        }
    }
}
