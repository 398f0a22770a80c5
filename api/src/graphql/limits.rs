//! What one GraphQL document may ask (DESIGN §5): depth, complexity, aliases, directives.
//! Over a limit, the request is refused as a whole before anything runs, with
//! `GRAPHQL_VALIDATION_FAILED` and no `data`.
//!
//! async-graphql checks depth, complexity and recursive depth itself. Its `limit_directives`
//! counts directives per field only, and it has no alias limit; moreover it walks fragment
//! spreads without remembering fragments it has seen, so that a document of a few lines whose
//! fragments each spread the next one twice (a "fragment bomb") takes exponential time in its
//! recursive-depth check and its complexity visitor, and a fragment cycle of fan-out two does as
//! well. [`DocumentLimits`] runs first, when the request is prepared: it parses the document once
//! (async-graphql keeps the parse), counts aliases, directives and fields of each operation with
//! its fragments expanded, each fragment counted once and reused, and refuses:
//! - more than [`ALIASES`] aliases: an alias asks a field once more under another name, the way
//!   to repeat an expensive field in one request (`a1: projects … a2: projects …`);
//! - more than [`DIRECTIVES`] directives: each is evaluated, and repeated ones make one error
//!   each, a response far larger than the request;
//! - more than [`FIELDS`] fields once fragments are expanded: every field costs at least 1 in
//!   complexity, so this refuses nothing that [`COMPLEXITY`] would allow;
//! - a fragment that contains itself (the validation rule would refuse it too, but only after
//!   the exponential walk), or nesting deeper than [`RECURSIVE_DEPTH`].
//!
//! The counts are of the whole document (all its operations, and fragments whether used or
//! not) as written, and of each operation as executed (a fragment spread twice counts twice).
//!
//! Depth is counted here too, not by async-graphql's `limit_depth`, because introspection is
//! counted apart: the standard introspection queries (graphql-js 16's `getIntrospectionQuery`,
//! GraphiQL's, codegen's) nest `ofType` nine times under `__schema { types { fields { args {
//! type …` and are 15 fields deep, over any depth that suits the API's own types. So:
//! - fields of the API's own types nest at most [`DEPTH`] deep;
//! - a `__schema` or `__type` field and what it selects nest at most [`INTROSPECTION_DEPTH`]
//!   deep from that field, and at most [`INTROSPECTION_LISTS`] of its lists (`types`,
//!   `fields`, `args`…) within each other: depth alone would let `types { fields { type {
//!   fields { type { fields …` fan out to millions of items, while the standard queries nest
//!   three lists (`types`, `fields`, `args`). The introspection types are few and known, so
//!   that is the whole cost of any introspection query this allows.
//!
//! Complexity: every field costs 1 plus its selection; a list costs its selection times how
//! many items it may hold: a connection the page asked (`first` or `last`, [`DEFAULT_PAGE`] when
//! neither, at most [`MAX_PAGE`]) — see [`page_cost`] — and the lists without paging an estimate
//! ([`list_cost`]). `projects(first: 100)` with each project's sessions and their facilitators
//! is over the budget; the README's queries are well within it.

use super::checks::{Prepared, RequestCheck, with_code};
use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::{Name, Pos, Positioned, ServerError, ServerResult};
use std::collections::HashMap;

/// Deepest nesting of fields of the API's own types.
pub const DEPTH: usize = 12;
/// Deepest nesting of fields inside a `__schema` or `__type` field, that field included: the
/// standard introspection queries need 15; past the lists, only `ofType` chains nest, which
/// cost one item a level.
pub const INTROSPECTION_DEPTH: usize = 20;
/// Most lists of the introspection types nested within each other (`types { fields { args`).
pub const INTROSPECTION_LISTS: usize = 3;
/// Largest complexity of an operation (`limit_complexity`).
pub const COMPLEXITY: usize = 5_000;
/// Deepest nesting of selection sets and fragment spreads (`limit_recursive_depth`).
pub const RECURSIVE_DEPTH: usize = 32;
/// Most aliases in a document. A front end aliases a few fields (`active: projects(…)`,
/// `paused: projects(…)`); 30 is plenty for a dashboard.
pub const ALIASES: usize = 30;
/// Most directives in a document (`@include`, `@skip`…): a few per optional part of a page.
pub const DIRECTIVES: usize = 50;
/// Most fields in an operation, fragments expanded.
pub const FIELDS: usize = COMPLEXITY;
/// The page size of a connection when neither `first` nor `last` is given (as `connection.rs`).
pub const DEFAULT_PAGE: i32 = 20;
/// The largest page a connection serves.
pub const MAX_PAGE: i32 = 100;
/// How many sessions a project's `sessions` is expected to hold, for complexity.
pub const SESSIONS_PER_PROJECT: usize = 10;
/// How many people a list of people (holders, facilitators) is expected to hold.
pub const PEOPLE_PER_LIST: usize = 5;

/// The complexity of a connection: 1, plus its selection times the page size asked. The
/// selection's cost is capped just over the budget, so that costs never overflow.
pub fn page_cost(first: Option<i32>, last: Option<i32>, child_complexity: usize) -> usize {
    let asked = match (first, last) {
        (None, None) => DEFAULT_PAGE,
        (first, last) => first.unwrap_or(0).max(last.unwrap_or(0)),
    };
    let size = usize::try_from(asked.clamp(1, MAX_PAGE)).unwrap_or(1);
    list_cost(size, child_complexity)
}

/// The complexity of a list expected to hold `items` items: 1, plus its selection times that.
pub fn list_cost(items: usize, child_complexity: usize) -> usize {
    1 + items.clamp(1, MAX_PAGE as usize) * child_complexity.min(COMPLEXITY + 1)
}

/// The schema extension that enforces the alias, directive and expanded-size limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DocumentLimits {
    pub aliases: usize,
    pub directives: usize,
    pub fields: usize,
    pub recursive_depth: usize,
    pub depth: usize,
    pub introspection_depth: usize,
    pub introspection_lists: usize,
}

impl Default for DocumentLimits {
    fn default() -> Self {
        Self {
            aliases: ALIASES,
            directives: DIRECTIVES,
            fields: FIELDS,
            recursive_depth: RECURSIVE_DEPTH,
            depth: DEPTH,
            introspection_depth: INTROSPECTION_DEPTH,
            introspection_lists: INTROSPECTION_LISTS,
        }
    }
}

impl RequestCheck for DocumentLimits {
    fn check_prepared(&self, request: &Prepared<'_>) -> ServerResult<()> {
        // a document that does not parse goes on, for async-graphql's own message
        request.document.map_or(Ok(()), |document| self.check(document))
    }
}

impl DocumentLimits {
    /// Refuses `document` if it is over a limit.
    pub fn check(&self, document: &ExecutableDocument) -> ServerResult<()> {
        let mut walk = Walk { document, limits: self, expanded: HashMap::new(), visiting: vec![] };
        let (written, executed) = walk.document().map_err(|refusal| refusal.into_error(self))?;
        let aliases = written.aliases.max(executed.aliases);
        if aliases > self.aliases {
            return Err(refused(format!("trop d'alias dans la requête ({aliases}, au plus {})", self.aliases), None));
        }
        let directives = written.directives.max(executed.directives);
        if directives > self.directives {
            let most = self.directives;
            return Err(refused(format!("trop de directives dans la requête ({directives}, au plus {most})"), None));
        }
        if executed.fields > self.fields {
            let message = format!(
                "requête trop grande : {} champs une fois les fragments dépliés, au plus {}",
                executed.fields, self.fields
            );
            return Err(refused(message, None));
        }
        // no cycle, and nesting bounded: the depth walk terminates
        for (_, operation) in document.operations.iter() {
            let mut depths = DepthWalk { document, memo: HashMap::new() };
            let found = depths.selection_set(&operation.node.selection_set, false);
            if found.api > self.depth {
                return Err(refused(
                    format!("requête trop profonde ({} niveaux de champs, au plus {})", found.api, self.depth),
                    None,
                ));
            }
            if found.introspection > self.introspection_depth {
                let most = self.introspection_depth;
                return Err(refused(
                    format!("introspection trop profonde ({} niveaux, au plus {most})", found.introspection),
                    None,
                ));
            }
            if found.lists > self.introspection_lists {
                let most = self.introspection_lists;
                return Err(refused(
                    format!("introspection trop ramifiée ({} listes imbriquées, au plus {most})", found.lists),
                    None,
                ));
            }
        }
        Ok(())
    }
}

/// The nesting found in a selection set, fragments expanded. Outside introspection, `api` is
/// the depth of the API's fields below this point, and `introspection` and `lists` the
/// greatest found in the introspection fields met below (counted from their `__schema` or
/// `__type`); inside introspection, `introspection` and `lists` are counted from this point.
#[derive(Clone, Copy, Debug, Default)]
struct Depths {
    api: usize,
    introspection: usize,
    lists: usize,
}

impl Depths {
    fn max(self, other: Self) -> Self {
        Self {
            api: self.api.max(other.api),
            introspection: self.introspection.max(other.introspection),
            lists: self.lists.max(other.lists),
        }
    }
}

/// The fields of the introspection types that return lists.
const INTROSPECTION_LIST_FIELDS: &[&str] =
    &["types", "directives", "fields", "args", "inputFields", "interfaces", "possibleTypes", "enumValues"];

struct DepthWalk<'a> {
    document: &'a ExecutableDocument,
    /// Each fragment's depths, by name and whether it is spread inside introspection.
    memo: HashMap<(&'a str, bool), Depths>,
}

impl<'a> DepthWalk<'a> {
    fn selection_set(&mut self, set: &'a Positioned<SelectionSet>, inside: bool) -> Depths {
        let mut found = Depths::default();
        for selection in &set.node.items {
            let here = match &selection.node {
                Selection::Field(field) => {
                    let field = &field.node;
                    let name = field.name.node.as_str();
                    if inside || matches!(name, "__schema" | "__type") {
                        let below = self.selection_set(&field.selection_set, true);
                        let list = usize::from(inside && INTROSPECTION_LIST_FIELDS.contains(&name));
                        Depths { api: 0, introspection: 1 + below.introspection, lists: list + below.lists }
                    } else {
                        let below = self.selection_set(&field.selection_set, false);
                        Depths { api: 1 + below.api, ..below }
                    }
                }
                Selection::FragmentSpread(spread) => {
                    let name = spread.node.fragment_name.node.as_str();
                    match self.memo.get(&(name, inside)) {
                        Some(depths) => *depths,
                        None => {
                            let Some(fragment) = self.document.fragments.get(&spread.node.fragment_name.node) else {
                                continue;
                            };
                            let depths = self.selection_set(&fragment.node.selection_set, inside);
                            self.memo.insert((name, inside), depths);
                            depths
                        }
                    }
                }
                Selection::InlineFragment(inline) => self.selection_set(&inline.node.selection_set, inside),
            };
            found = found.max(here);
        }
        found
    }
}

fn refused(message: String, pos: Option<Pos>) -> ServerError {
    with_code(ServerError::new(message, pos), "GRAPHQL_VALIDATION_FAILED")
}

/// What a selection holds, saturating (a bomb's counts are huge, never wrong by overflow).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Counts {
    aliases: usize,
    directives: usize,
    fields: usize,
}

impl std::ops::AddAssign for Counts {
    fn add_assign(&mut self, other: Self) {
        self.aliases = self.aliases.saturating_add(other.aliases);
        self.directives = self.directives.saturating_add(other.directives);
        self.fields = self.fields.saturating_add(other.fields);
    }
}

enum Refusal {
    Cycle(String, Pos),
    TooDeep(Pos),
}

impl Refusal {
    fn into_error(self, limits: &DocumentLimits) -> ServerError {
        match self {
            Self::Cycle(name, pos) => refused(format!("le fragment « {name} » se contient lui-même"), Some(pos)),
            Self::TooDeep(pos) => refused(
                format!("requête trop imbriquée (au plus {} niveaux, fragments compris)", limits.recursive_depth),
                Some(pos),
            ),
        }
    }
}

struct Walk<'a> {
    document: &'a ExecutableDocument,
    limits: &'a DocumentLimits,
    /// Each fragment's counts, expanded, once computed.
    expanded: HashMap<&'a str, Counts>,
    /// The fragments being expanded, innermost last (a cycle comes back to one of them).
    visiting: Vec<&'a str>,
}

impl<'a> Walk<'a> {
    /// The document's counts as written, and its operations' as executed.
    fn document(&mut self) -> Result<(Counts, Counts), Refusal> {
        let (mut written, mut executed) = (Counts::default(), Counts::default());
        for (_, operation) in self.document.operations.iter() {
            let operation = &operation.node;
            let own = operation.directives.len()
                + operation.variable_definitions.iter().map(|v| v.node.directives.len()).sum::<usize>();
            let own = Counts { directives: own, ..Default::default() };
            written += own;
            written += self.selection_set(&operation.selection_set, 0, false)?;
            executed += own;
            executed += self.selection_set(&operation.selection_set, 0, true)?;
        }
        for fragment in self.document.fragments.values() {
            written += Counts { directives: fragment.node.directives.len(), ..Default::default() };
            written += self.selection_set(&fragment.node.selection_set, 1, false)?;
        }
        Ok((written, executed))
    }

    /// The counts of `set` at `depth` (counted as async-graphql's recursive-depth check does),
    /// with fragments spread in it expanded or not.
    fn selection_set(
        &mut self,
        set: &'a Positioned<SelectionSet>,
        depth: usize,
        expand: bool,
    ) -> Result<Counts, Refusal> {
        if depth > self.limits.recursive_depth {
            return Err(Refusal::TooDeep(set.pos));
        }
        let mut counts = Counts::default();
        for selection in &set.node.items {
            match &selection.node {
                Selection::Field(field) => {
                    let field = &field.node;
                    counts += Counts {
                        aliases: usize::from(field.alias.is_some()),
                        directives: field.directives.len(),
                        fields: 1,
                    };
                    if !field.selection_set.node.items.is_empty() {
                        counts += self.selection_set(&field.selection_set, depth + 1, expand)?;
                    }
                }
                Selection::FragmentSpread(spread) => {
                    counts += Counts { directives: spread.node.directives.len(), ..Default::default() };
                    if expand {
                        counts += self.fragment(&spread.node.fragment_name.node, spread.pos, depth + 1)?;
                    }
                }
                Selection::InlineFragment(inline) => {
                    counts += Counts { directives: inline.node.directives.len(), ..Default::default() };
                    counts += self.selection_set(&inline.node.selection_set, depth + 1, expand)?;
                }
            }
        }
        Ok(counts)
    }

    /// A fragment's counts, expanded (an unknown fragment counts nothing: validation refuses it).
    fn fragment(&mut self, name: &'a Name, pos: Pos, depth: usize) -> Result<Counts, Refusal> {
        if let Some(counts) = self.expanded.get(name.as_str()) {
            return Ok(*counts);
        }
        let Some(fragment) = self.document.fragments.get(name) else { return Ok(Counts::default()) };
        if self.visiting.contains(&name.as_str()) {
            return Err(Refusal::Cycle(name.to_string(), pos));
        }
        self.visiting.push(name.as_str());
        let mut counts = Counts { directives: fragment.node.directives.len(), ..Default::default() };
        counts += self.selection_set(&fragment.node.selection_set, depth, true)?;
        self.visiting.pop();
        self.expanded.insert(name.as_str(), counts);
        Ok(counts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(query: &str) -> Result<(), String> {
        let document = async_graphql::parser::parse_query(query).expect("a document");
        DocumentLimits::default().check(&document).map_err(|e| {
            let code = e.extensions.as_ref().and_then(|x| x.get("code")).cloned();
            assert_eq!(code, Some(async_graphql::Value::from("GRAPHQL_VALIDATION_FAILED")));
            e.message
        })
    }

    fn aliases(n: usize) -> String {
        format!("{{ {} }}", (0..n).map(|i| format!("a{i}: __typename")).collect::<Vec<_>>().join(" "))
    }

    #[test]
    fn thirty_aliases_pass_thirty_one_do_not() {
        assert_eq!(check(&aliases(ALIASES)), Ok(()));
        assert!(check(&aliases(ALIASES + 1)).unwrap_err().contains("alias"));
    }

    #[test]
    fn aliases_in_a_fragment_count_each_time_it_is_spread() {
        let fragment = (0..20).map(|i| format!("a{i}: __typename")).collect::<Vec<_>>().join(" ");
        assert_eq!(check(&format!("{{ ...F }} fragment F on Query {{ {fragment} }}")), Ok(()));
        let twice =
            format!("{{ ...F me {{ ...G }} }} fragment F on Query {{ {fragment} }} fragment G on Me {{ ...F }}");
        assert!(check(&twice).unwrap_err().contains("alias"), "20 written, 40 executed");
        let unused =
            format!("{{ __typename }} fragment F on Query {{ {fragment} }} fragment G on Query {{ {fragment} }}");
        assert!(check(&unused).unwrap_err().contains("alias"), "written in unused fragments, still counted");
    }

    #[test]
    fn directives_are_counted_everywhere() {
        let many = |n: usize| format!("{{ __typename {} }}", "@include(if: true) ".repeat(n));
        assert_eq!(check(&many(DIRECTIVES)), Ok(()));
        assert!(check(&many(DIRECTIVES + 1)).unwrap_err().contains("directives"));
        let spread = format!(
            "query Q @a {{ ... on Query @b {{ ...F @c }} }} fragment F on Query @d {{ __typename {} }}",
            "@e ".repeat(DIRECTIVES - 3)
        );
        assert!(check(&spread).unwrap_err().contains("directives"), "operation, inline fragment, spread, fragment");
    }

    #[test]
    fn a_fragment_bomb_is_refused_at_once() {
        let mut query = String::from("{ ...F0 }\n");
        for i in 0..30 {
            query.push_str(&format!("fragment F{i} on Query {{ ...F{} ...F{} }}\n", i + 1, i + 1));
        }
        query.push_str("fragment F30 on Query { __typename }");
        assert!(check(&query).unwrap_err().contains("champs"), "2^30 fields once expanded");
    }

    #[test]
    fn fragment_cycles_and_deep_chains_are_refused() {
        let cycle = "{ ...A } fragment A on Query { ...B ...B } fragment B on Query { ...A ...A }";
        assert!(check(cycle).unwrap_err().contains("se contient"));
        let mut chain = String::from("{ ...F0 }\n");
        for i in 0..200 {
            chain.push_str(&format!("fragment F{i} on Query {{ ...F{} }}\n", i + 1));
        }
        chain.push_str("fragment F200 on Query { __typename }");
        assert!(check(&chain).unwrap_err().contains("imbriquée"));
    }

    /// graphql-js 16's `getIntrospectionQuery` with every option, as GraphiQL and codegen send it.
    const STANDARD_INTROSPECTION: &str = include_str!("../../../tests/fixtures/introspection-graphql-js-16.graphql");

    #[test]
    fn the_standard_introspection_query_passes_while_deep_queries_of_the_api_do_not() {
        assert_eq!(check(STANDARD_INTROSPECTION), Ok(()));
        let deep = |n: usize| format!("{{ {}id{} }}", "a { ".repeat(n - 1), " }".repeat(n - 1));
        assert_eq!(check(&deep(DEPTH)), Ok(()));
        assert!(check(&deep(DEPTH + 1)).unwrap_err().contains("trop profonde"));
        let through_fragments =
            format!("{{ ...F }} fragment F on Query {{ {} }}", deep(DEPTH + 1).trim_matches(['{', '}']));
        assert!(check(&through_fragments).unwrap_err().contains("trop profonde"), "fragments expanded");
        let type_refs =
            format!("{{ __type(name: \"Query\") {{ {}name{} }} }}", "ofType { ".repeat(18), " }".repeat(18));
        assert_eq!(check(&type_refs), Ok(()), "20 deep in introspection");
        let too_deep = format!("{{ __type(name: \"Query\") {{ {}name{} }} }}", "ofType { ".repeat(19), " }".repeat(19));
        assert!(check(&too_deep).unwrap_err().contains("introspection trop profonde"));
        let fan_out = "{ __schema { types { fields { type { fields { type { fields { name } } } } } } } }";
        assert!(check(fan_out).unwrap_err().contains("ramifiée"), "4 nested lists");
        let inside_a_fragment = "{ ...F } fragment F on Query { __schema { types { fields { type { fields { type { fields { name } } } } } } } }";
        assert!(check(inside_a_fragment).unwrap_err().contains("ramifiée"));
    }

    #[test]
    fn costs_grow_with_the_page_and_never_overflow() {
        assert_eq!(page_cost(Some(10), None, 5), 51);
        assert_eq!(page_cost(None, Some(10), 5), 51);
        assert_eq!(page_cost(None, None, 5), 1 + 20 * 5);
        assert_eq!(page_cost(Some(i32::MAX), None, usize::MAX), 1 + 100 * (COMPLEXITY + 1));
        assert_eq!(page_cost(Some(-5), None, 3), 4, "refused by pagination anyway; costs one page item");
        assert_eq!(list_cost(SESSIONS_PER_PROJECT, 6), 61);
    }
}
