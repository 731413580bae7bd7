//! Query depth limit that leaves introspection alone: real queries may nest at most
//! `MAX_DEPTH` fields, while `__schema`/`__type` (whose shape is fixed by the schema,
//! and which GraphQL tools send nested ~13 deep) are not counted.

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextParseQuery};
use async_graphql::parser::types::{ExecutableDocument, FragmentDefinition, Selection, SelectionSet};
use async_graphql::{Name, Positioned, ServerError, ServerResult, Variables};
use std::collections::HashMap;
use std::sync::Arc;

/// Refuses documents whose non-introspection fields nest deeper than `max_depth`.
pub struct DepthLimit {
    /// Deepest allowed field nesting.
    pub max_depth: usize,
}

impl ExtensionFactory for DepthLimit {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(DepthCheck { max_depth: self.max_depth })
    }
}

struct DepthCheck {
    max_depth: usize,
}

#[async_trait::async_trait]
impl Extension for DepthCheck {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let document = next.run(ctx, query, variables).await?;
        let fragments = &document.fragments;
        let depth = document
            .operations
            .iter()
            .map(|(_, operation)| selection_depth(&operation.node.selection_set.node, fragments, &mut Vec::new()))
            .max()
            .unwrap_or(0);
        if depth > self.max_depth {
            return Err(ServerError::new(
                format!("Query is nested too deep: {depth} levels, the limit is {}", self.max_depth),
                None,
            ));
        }
        Ok(document)
    }
}

/// Depth of a selection set; `visiting` guards against fragment cycles (validation,
/// which rejects them, runs after parsing).
fn selection_depth<'a>(
    set: &'a SelectionSet,
    fragments: &'a HashMap<Name, Positioned<FragmentDefinition>>,
    visiting: &mut Vec<&'a Name>,
) -> usize {
    set.items
        .iter()
        .map(|selection| match &selection.node {
            Selection::Field(field) if field.node.name.node.starts_with("__") => 0,
            Selection::Field(field) => 1 + selection_depth(&field.node.selection_set.node, fragments, visiting),
            Selection::InlineFragment(inline) => selection_depth(&inline.node.selection_set.node, fragments, visiting),
            Selection::FragmentSpread(spread) => {
                let name = &spread.node.fragment_name.node;
                match fragments.get(name) {
                    Some(fragment) if !visiting.contains(&name) => {
                        visiting.push(name);
                        let depth = selection_depth(&fragment.node.selection_set.node, fragments, visiting);
                        visiting.pop();
                        depth
                    }
                    _ => 0,
                }
            }
        })
        .max()
        .unwrap_or(0)
}
