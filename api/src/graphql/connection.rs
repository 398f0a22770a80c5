//! Relay connections over the read models' keyset pages (DESIGN §5): the paging arguments
//! checked once for every list, and a page turned into a connection with `totalCount`.

use super::access::Caller;
use super::error::ApiError;
use super::ids;
use async_graphql::connection::{Connection, Edge, EmptyFields};
use async_graphql::{OutputType, SimpleObject};
use carnet_projections::{MAX_PAGE_SIZE, Page};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// What a list was asked for: `n` rows after a cursor, or `n` rows before one.
pub enum PageRequest<C> {
    Forward(u32, Option<C>),
    Backward(u32, Option<C>),
}

impl<C> PageRequest<C> {
    /// `(size, cursor, backward)`, as the read models' `_fetching` lists take them.
    pub fn into_parts(self) -> (u32, Option<C>, bool) {
        match self {
            Self::Forward(n, after) => (n, after, false),
            Self::Backward(n, before) => (n, before, true),
        }
    }
}

/// The paging arguments of a list: `first`/`after` forward (20 by default) or `last`/`before`
/// backward, 1 to 100 rows, cursors that are ours; `BAD_USER_INPUT` otherwise.
pub fn page_request<C: DeserializeOwned>(
    caller: &Caller<'_>,
    first: Option<i32>,
    after: Option<String>,
    last: Option<i32>,
    before: Option<String>,
) -> async_graphql::Result<PageRequest<C>> {
    let bad = |m: &str| caller.fail(ApiError::BadUserInput(m.to_owned(), "pagination"));
    let size = |n: i32, name: &str| {
        u32::try_from(n).ok().filter(|n| (1..=MAX_PAGE_SIZE).contains(n)).ok_or_else(|| {
            bad(&format!("« {name} » : une page compte de 1 à {MAX_PAGE_SIZE} éléments (demandé : {n})"))
        })
    };
    let cursor = |raw: Option<String>| {
        raw.map(|r| {
            ids::decode_cursor(&r).ok_or_else(|| {
                bad("curseur invalide : reprenez un « startCursor » ou un « endCursor » donné par cette liste")
            })
        })
        .transpose()
    };
    match (first, last) {
        (Some(_), Some(_)) => Err(bad("donnez « first » ou « last », pas les deux")),
        (_, Some(n)) => Ok(PageRequest::Backward(size(n, "last")?, cursor(before)?)),
        (n, None) => Ok(PageRequest::Forward(size(n.unwrap_or(20), "first")?, cursor(after)?)),
    }
}

/// What every connection adds to Relay's edges and page info.
#[derive(SimpleObject)]
pub struct Counted {
    /// How many match the filter, all pages together.
    total_count: u64,
}

pub type CountedConnection<N> = Connection<String, N, Counted, EmptyFields>;

/// A connection with nothing in it (a territory caller asking only for others' académies).
pub fn empty<N: OutputType>() -> CountedConnection<N> {
    Connection::with_additional_fields(false, false, Counted { total_count: 0 })
}

/// Whether the connection being resolved has its `totalCount` selected: counting is a scan of
/// what matches, done only when asked for.
pub fn total_count_selected(ctx: &async_graphql::Context<'_>) -> bool {
    ctx.look_ahead().field("totalCount").exists()
}

/// `page` as a connection: each row becomes a node, its cursor `cursor(&row)`.
pub fn connection<R, N: OutputType, C: Serialize>(
    page: Page<R>,
    cursor: impl Fn(&R) -> C,
    node: impl Fn(R) -> N,
) -> CountedConnection<N> {
    let mut connection = Connection::with_additional_fields(
        page.has_previous_page,
        page.has_next_page,
        Counted { total_count: page.total_count },
    );
    connection.edges.extend(page.rows.into_iter().map(|row| Edge::new(ids::encode_cursor(&cursor(&row)), node(row))));
    connection
}
