//! The checks a request passes before anything runs, each a [`RequestCheck`]:
//! [`DocumentLimits`](super::limits::DocumentLimits) (what one document may ask),
//! [`StorableInputs`](super::storable::StorableInputs) (what the store can hold) and
//! [`RequiredVariables`](super::variables::RequiredVariables) (variables without a value). Each
//! says what it refuses of a [`Prepared`] request; [`Checked`], one schema extension for the three
//! (a tuple of checks), runs them in async-graphql's `prepare_request` hook, in the order
//! `build_schema` gives them, before async-graphql validates
//! the document (it keeps the parse, so the document is parsed once). A refusal is the whole
//! answer: no `data`, nothing ran.

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextPrepareRequest};
use async_graphql::parser::types::ExecutableDocument;
use async_graphql::registry::Registry;
use async_graphql::{ErrorExtensionValues, Request, ServerError, ServerResult, Variables};
use std::sync::Arc;

/// What a check reads of a request being prepared.
pub(super) struct Prepared<'r> {
    /// The schema's types.
    pub registry: &'r Registry,
    /// `None` when the document does not parse (async-graphql reports that itself).
    pub document: Option<&'r ExecutableDocument>,
    pub operation_name: Option<&'r str>,
    pub variables: &'r Variables,
}

/// A check of a request before it runs.
pub(super) trait RequestCheck: Copy + Send + Sync + 'static {
    /// The error that refuses `request`, if any.
    fn check_prepared(&self, request: &Prepared<'_>) -> ServerResult<()>;
}

/// Checks run one after the other, the first refusal winning: one extension for all of them,
/// because async-graphql runs every field's resolution through every extension's `resolve`
/// hook, so each extension costs a layer per field of every answer (issue 13's profile).
impl<A: RequestCheck, B: RequestCheck, C: RequestCheck> RequestCheck for (A, B, C) {
    fn check_prepared(&self, request: &Prepared<'_>) -> ServerResult<()> {
        self.0.check_prepared(request)?;
        self.1.check_prepared(request)?;
        self.2.check_prepared(request)
    }
}

/// The schema extension that runs check `C` on every request.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Checked<C>(pub C);

impl<C: RequestCheck> ExtensionFactory for Checked<C> {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(*self)
    }
}

#[async_graphql::async_trait::async_trait]
impl<C: RequestCheck> Extension for Checked<C> {
    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        mut request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        // the parse borrows the request: its variables and operation name are set aside meanwhile
        let variables = std::mem::take(&mut request.variables);
        let operation_name = request.operation_name.take();
        let checked = self.0.check_prepared(&Prepared {
            registry: &ctx.schema_env.registry,
            document: request.parsed_query().ok(),
            operation_name: operation_name.as_deref(),
            variables: &variables,
        });
        request.variables = variables;
        request.operation_name = operation_name;
        checked?;
        next.run(ctx, request).await
    }
}

/// `error`, with `code` as its only extension.
pub(super) fn with_code(mut error: ServerError, code: &str) -> ServerError {
    let mut extensions = ErrorExtensionValues::default();
    extensions.set("code", code);
    error.extensions = Some(extensions);
    error
}
