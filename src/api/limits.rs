//! What one GraphQL document may ask for, decided when it is parsed (before any row is
//! read), the same for HTTP and WebSocket operations:
//! - depth: real fields nest at most `max_depth` deep (introspection, whose shape the
//!   schema fixes and which GraphQL tools send ~13 deep, is not counted);
//! - fields: at most `max_fields` field selections, `__typename` and every alias
//!   included, fragments counted each time they are spread;
//! - rows: at most `max_rows` items over all pages (`nodes`/`edges` of a connection
//!   hold `first`/`last` items, default 50, multiplied through nested pages; so do the
//!   plain lists of [`PAGED_LISTS`]);
//! - cost: at most `max_cost` values, each field counted once per item of the pages it
//!   sits in, a message's text counting [`TEXT_WEIGHT`] times (it may be 5,000
//!   characters), so one request's output is bounded in rows and in bytes.

use super::error::ErrorCode;
use crate::domain::paging::{DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE};
use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextParseQuery};
use async_graphql::parser::types::{ExecutableDocument, Field, FragmentDefinition, Selection, SelectionSet};
use async_graphql::{ErrorExtensionValues, Name, Positioned, ServerError, ServerResult, Value, Variables};
use std::collections::HashMap;
use std::sync::Arc;

/// Fields that return a plain list (not a connection) of up to their own `first` items.
pub const PAGED_LISTS: &[&str] = &["apiKeys"];

/// How much a message's text weighs in the cost, against 1 for any other value.
pub const TEXT_WEIGHT: u64 = 10;

/// The limits a document is held to.
#[derive(Debug, Clone, Copy)]
pub struct DocumentLimits {
    /// Deepest allowed field nesting.
    pub max_depth: usize,
    /// Most field selections.
    pub max_fields: u64,
    /// Most items over all pages.
    pub max_rows: u64,
    /// Most values, weighted by page size and text weight.
    pub max_cost: u64,
}

impl ExtensionFactory for DocumentLimits {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(*self)
    }
}

#[async_trait::async_trait]
impl Extension for DocumentLimits {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let document = next.run(ctx, query, variables).await?;
        let mut measure = Measure { fragments: &document.fragments, variables, memo: HashMap::new(), visiting: Vec::new() };
        let size = document
            .operations
            .iter()
            .map(|(_, operation)| measure.selection_set(&operation.node.selection_set.node, 0))
            .fold(Size::default(), Size::max);
        let refuse = |message: String| {
            let mut error = ServerError::new(message, None);
            let mut extensions = ErrorExtensionValues::default();
            extensions.set("code", ErrorCode::QueryTooComplex.as_str());
            error.extensions = Some(extensions);
            Err(error)
        };
        if size.depth > self.max_depth as u64 {
            return refuse(format!("Query is nested too deep: {} levels, the limit is {}", size.depth, self.max_depth));
        }
        if size.fields > self.max_fields {
            return refuse(format!("Query is too complex: {} fields, the limit is {}", size.fields, self.max_fields));
        }
        if size.rows > self.max_rows {
            return refuse(format!(
                "Query is too complex: its pages hold up to {} items, the limit is {} per request",
                size.rows, self.max_rows
            ));
        }
        if size.cost > self.max_cost {
            return refuse(format!(
                "Query is too complex: it could return {} values (fields × page sizes), the limit is {}",
                size.cost, self.max_cost
            ));
        }
        Ok(document)
    }
}

/// What a selection set asks for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Size {
    depth: u64,
    fields: u64,
    rows: u64,
    cost: u64,
}

impl Size {
    /// Both branches of an operation list or union: the larger of each measure.
    fn max(self, other: Size) -> Size {
        Size {
            depth: self.depth.max(other.depth),
            fields: self.fields.max(other.fields),
            rows: self.rows.max(other.rows),
            cost: self.cost.max(other.cost),
        }
    }

    /// Two parts of the same selection: depth is the deeper, the rest add up.
    fn and(self, other: Size) -> Size {
        Size {
            depth: self.depth.max(other.depth),
            fields: self.fields.saturating_add(other.fields),
            rows: self.rows.saturating_add(other.rows),
            cost: self.cost.saturating_add(other.cost),
        }
    }

    /// This selection repeated for each of `items` (rows and cost multiply).
    fn times(self, items: u64) -> Size {
        Size { rows: self.rows.saturating_mul(items), cost: self.cost.saturating_mul(items), ..self }
    }
}

/// Walks a document once; each fragment is measured once (so a "fragment bomb" costs
/// linear time to measure while its expansion is counted in full).
struct Measure<'a> {
    fragments: &'a HashMap<Name, Positioned<FragmentDefinition>>,
    variables: &'a Variables,
    memo: HashMap<(&'a Name, u64), Size>,
    /// Fragments being measured (validation, which rejects cycles, runs after parsing).
    visiting: Vec<&'a Name>,
}

impl<'a> Measure<'a> {
    /// The size of `set`, the selection of a field whose page holds `page` items (what
    /// its `nodes` and `edges` repeat for, however deep in fragments they are).
    fn selection_set(&mut self, set: &'a SelectionSet, page: u64) -> Size {
        set.items.iter().fold(Size::default(), |total, selection| {
            let part = match &selection.node {
                Selection::Field(field) => self.field(&field.node, page),
                Selection::InlineFragment(inline) => self.selection_set(&inline.node.selection_set.node, page),
                Selection::FragmentSpread(spread) => self.fragment(&spread.node.fragment_name.node, page),
            };
            total.and(part)
        })
    }

    fn fragment(&mut self, name: &'a Name, page: u64) -> Size {
        if let Some(size) = self.memo.get(&(name, page)) {
            return *size;
        }
        let Some(fragment) = self.fragments.get(name) else { return Size::default() };
        if self.visiting.contains(&name) {
            return Size::default();
        }
        self.visiting.push(name);
        let size = self.selection_set(&fragment.node.selection_set.node, page);
        self.visiting.pop();
        self.memo.insert((name, page), size);
        size
    }

    /// The size of `field`, selected where a page holds `page` items.
    fn field(&mut self, field: &'a Field, page: u64) -> Size {
        let name = field.name.node.as_str();
        if name == "__typename" {
            return Size { depth: 0, fields: 1, rows: 0, cost: 1 };
        }
        if name.starts_with("__") {
            // Introspection: fixed by the schema, exempt.
            return Size::default();
        }
        let children = &field.selection_set.node;
        if matches!(name, "nodes" | "edges") {
            // A connection's items: everything below repeats once per item.
            let below = self.selection_set(children, self.page_size(field)).times(page);
            return Size { depth: below.depth + 1, fields: below.fields + 1, rows: below.rows.saturating_add(page), cost: below.cost.saturating_add(1) };
        }
        if PAGED_LISTS.contains(&name) {
            // A plain list: everything below repeats once per item of its own page.
            let items = self.page_size(field);
            let below = self.selection_set(children, items).times(items);
            return Size { depth: below.depth + 1, fields: below.fields + 1, rows: below.rows.saturating_add(items), cost: below.cost.saturating_add(1) };
        }
        let inner = self.selection_set(children, self.page_size(field));
        let own_cost = if name == "message" && children.items.is_empty() { TEXT_WEIGHT } else { 1 };
        Size { depth: inner.depth + 1, fields: inner.fields + 1, rows: inner.rows, cost: inner.cost.saturating_add(own_cost) }
    }

    /// Items a connection field's page may hold: its `first` or `last` (literal or
    /// variable), the default page size when neither is given; held to the largest page
    /// size, so an out-of-range argument is refused by the field itself with its own message.
    fn page_size(&self, field: &Field) -> u64 {
        let argument = |name: &str| {
            let value = field.get_argument(name)?;
            let value = value.node.clone().into_const_with(|variable| Ok::<_, ()>(self.variables.get(&variable).cloned().unwrap_or(Value::Null))).ok()?;
            match value {
                Value::Number(number) => Some(number.as_i64().unwrap_or(MAX_PAGE_SIZE)),
                _ => None,
            }
        };
        let size = argument("first").or_else(|| argument("last")).unwrap_or(DEFAULT_PAGE_SIZE);
        size.clamp(0, MAX_PAGE_SIZE) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_graphql::parser::parse_query;

    fn size_of(query: &str, variables: serde_json::Value) -> Size {
        let document = parse_query(query).unwrap();
        let variables = Variables::from_json(variables);
        let mut measure = Measure { fragments: &document.fragments, variables: &variables, memo: HashMap::new(), visiting: Vec::new() };
        document.operations.iter().map(|(_, op)| measure.selection_set(&op.node.selection_set.node, 0)).fold(Size::default(), Size::max)
    }

    #[test]
    fn pages_multiply_what_sits_in_them() {
        let size = size_of("{ chatMessages(first: 500) { totalCount nodes { id message } } }", serde_json::json!({}));
        assert_eq!(size.rows, 500);
        assert_eq!(size.cost, 1 + 1 + 1 + 500 * (1 + TEXT_WEIGHT));
        assert_eq!(size.fields, 5);
        assert_eq!(size.depth, 3);
    }

    #[test]
    fn variables_and_defaults_set_the_page_size() {
        let by_variable = size_of("query($n: Int) { chatMessages(first: $n) { nodes { id } } }", serde_json::json!({ "n": 7 }));
        assert_eq!(by_variable.rows, 7);
        let by_default = size_of("{ chatMessages { edges { cursor } } }", serde_json::json!({}));
        assert_eq!(by_default.rows, DEFAULT_PAGE_SIZE as u64);
        let last = size_of("{ chatMessages(last: 3) { nodes { id } edges { cursor } } }", serde_json::json!({}));
        assert_eq!(last.rows, 6, "nodes and edges each output every item");
    }

    #[test]
    fn nested_pages_and_aliases_add_up() {
        let nested = size_of("{ chats(first: 500) { nodes { messages(first: 500) { nodes { id } } } } }", serde_json::json!({}));
        assert_eq!(nested.rows, 500 + 500 * 500);
        let aliases: String = (0..150).map(|i| format!("a{i}: chatMessages(first: 500) {{ nodes {{ message }} }} ")).collect();
        let aliased = size_of(&format!("{{ {aliases} }}"), serde_json::json!({}));
        assert_eq!(aliased.rows, 150 * 500);
        // Items selected through a fragment on the connection still repeat per item.
        let through_fragment = size_of(
            "{ a: chatMessages(first: 500) { ...Page } }\nfragment Page on ChatMessageConnection { ... on ChatMessageConnection { nodes { message } } }",
            serde_json::json!({}),
        );
        assert_eq!(through_fragment.rows, 500);
        assert_eq!(through_fragment.cost, 1 + 1 + 500 * TEXT_WEIGHT);
    }

    #[test]
    fn typename_counts_and_fragments_count_each_time_they_are_spread() {
        let typenames: String = (0..1_001).map(|i| format!("t{i}: __typename ")).collect();
        assert_eq!(size_of(&format!("{{ {typenames} }}"), serde_json::json!({})).fields, 1_001);
        // Each level spreads the one below twice: 2^20 fields, measured in linear time.
        let mut query = String::from("{ ...F0 }\nfragment F20 on Query { __typename }\n");
        for level in 0..20 {
            query.push_str(&format!("fragment F{level} on Query {{ ...F{next} ...F{next} }}\n", next = level + 1));
        }
        assert_eq!(size_of(&query, serde_json::json!({})).fields, 1 << 20);
    }

    #[test]
    fn a_plain_paged_list_multiplies_what_sits_in_it() {
        let size = size_of("{ apiKeys(first: 200) { id label } }", serde_json::json!({}));
        assert_eq!(size.rows, 200);
        assert_eq!(size.cost, 1 + 200 * 2);
        let by_default = size_of("{ apiKeys { id } }", serde_json::json!({}));
        assert_eq!(by_default.rows, DEFAULT_PAGE_SIZE as u64);
    }

    #[test]
    fn introspection_is_exempt() {
        let size = size_of("{ __schema { types { name fields { name type { ofType { ofType { name } } } } } } }", serde_json::json!({}));
        assert_eq!(size, Size::default());
    }
}
