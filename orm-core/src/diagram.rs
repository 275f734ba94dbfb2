//! ER diagrams of a set of models, drawn from their metadata: Mermaid
//! `erDiagram` text (GitHub renders it in Markdown) and Graphviz DOT.
//!
//! Does not read the database: it draws what the models declare.
//!
//! ```
//! # use orm::prelude::*;
//! # #[derive(Model, Debug)]
//! # #[orm(table = "users")]
//! # pub struct User { #[orm(primary_key)] pub id: i64, pub name: String,
//! #   #[orm(back_populates = "user")] pub orders: HasMany<Order> }
//! # #[derive(Model, Debug)]
//! # #[orm(table = "orders")]
//! # pub struct Order { #[orm(primary_key)] pub id: i64, pub total_cents: i64,
//! #   #[orm(back_populates = "orders")] pub user: BelongsTo<User> }
//! let text = orm::diagram::mermaid::<(User, Order)>();
//! assert!(text.contains("users ||--o{ orders : \"user\""));
//! ```

use std::fmt::Write;

use crate::schema::{ColumnDef, LinkDef, ModelSet, TableDef, dependency_order};

/// A relationship between two tables, as the diagrams draw it.
struct Edge {
    parent: &'static str,
    child: &'static str,
    label: &'static str,
    /// `||--o{` style: one parent (or none, if optional) to many children,
    /// or to at most one child when the key is unique.
    cardinality: &'static str,
}

fn edges(tables: &[&'static TableDef]) -> Vec<Edge> {
    let mut edges = Vec::new();
    for table in tables {
        for column in table.columns {
            let Some(fk) = column.references else {
                continue;
            };
            let parent_side = if column.nullable { "|o" } else { "||" };
            let child_side = if column.unique { "o|" } else { "o{" };
            edges.push(Edge {
                parent: (fk.target)().name,
                child: table.name,
                label: column.field,
                cardinality: cardinality(parent_side, child_side),
            });
        }
    }
    edges
}

/// The four Mermaid cardinalities a foreign key can have.
fn cardinality(parent: &str, child: &str) -> &'static str {
    match (parent, child) {
        ("||", "o|") => "||--o|",
        ("|o", "o{") => "|o--o{",
        ("|o", "o|") => "|o--o|",
        _ => "||--o{",
    }
}

/// The link tables of `tables`, each once.
fn links(tables: &[&'static TableDef]) -> Vec<&'static LinkDef> {
    let mut links: Vec<&'static LinkDef> = Vec::new();
    for link in tables.iter().flat_map(|t| t.links.iter()) {
        if !links.iter().any(|l| l.table == link.table) {
            links.push(link);
        }
    }
    links
}

fn key_marks(column: &ColumnDef) -> &'static str {
    match (
        column.primary_key,
        column.references.is_some(),
        column.unique,
    ) {
        (true, _, _) => " PK",
        (false, true, true) => " FK, UK",
        (false, true, false) => " FK",
        (false, false, true) => " UK",
        (false, false, false) => "",
    }
}

/// Mermaid `erDiagram` text: one entity per table with its columns (type,
/// name, `PK`/`FK`/`UK`, nullability), one line per relationship.
pub fn mermaid<S: ModelSet>() -> String {
    let tables = dependency_order(&S::tables());
    let mut out = String::from("erDiagram\n");
    for table in &tables {
        let _ = writeln!(out, "    {} {{", table.name);
        for column in table.columns {
            let nullable = if column.nullable { " \"nullable\"" } else { "" };
            let _ = writeln!(
                out,
                "        {} {}{}{}",
                column.sql_type,
                column.name,
                key_marks(column),
                nullable
            );
        }
        out.push_str("    }\n");
    }
    for edge in edges(&tables) {
        let _ = writeln!(
            out,
            "    {} {} {} : \"{}\"",
            edge.parent, edge.cardinality, edge.child, edge.label
        );
    }
    for link in links(&tables) {
        let [(_, a), (_, b)] = &link.columns;
        let _ = writeln!(
            out,
            "    {} }}o--o{{ {} : \"{}\"",
            a().name,
            b().name,
            link.table
        );
    }
    out
}

/// Escapes text for a Graphviz record label.
fn record_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        if matches!(ch, '{' | '}' | '|' | '<' | '>' | '"' | '\\') {
            out.push('\\');
        }
        out.push(ch);
    }
    out
}

/// Graphviz DOT text: one record node per table (its columns with types
/// and keys), one edge per foreign key from child to parent, and one
/// dashed edge per many-to-many link table.
pub fn dot<S: ModelSet>() -> String {
    let tables = dependency_order(&S::tables());
    let mut out = String::from("digraph schema {\n    rankdir=LR;\n    node [shape=record];\n");
    for table in &tables {
        let columns: Vec<String> = table
            .columns
            .iter()
            .map(|c| {
                let null = if c.nullable { " NULL" } else { "" };
                record_text(&format!(
                    "{} {}{}{}",
                    c.name,
                    c.sql_type,
                    key_marks(c),
                    null
                ))
            })
            .collect();
        let _ = writeln!(
            out,
            "    \"{}\" [label=\"{{{}|{}\\l}}\"];",
            table.name,
            record_text(table.name),
            columns.join("\\l")
        );
    }
    for edge in edges(&tables) {
        let shape = match edge.cardinality {
            "||--o|" | "|o--o|" => "one-to-one",
            _ => "many-to-one",
        };
        let optional = if edge.cardinality.starts_with("|o") {
            ", optional"
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "    \"{}\" -> \"{}\" [label=\"{} ({shape}{optional})\"];",
            edge.child, edge.parent, edge.label
        );
    }
    for link in links(&tables) {
        let [(_, a), (_, b)] = &link.columns;
        let _ = writeln!(
            out,
            "    \"{}\" -> \"{}\" [dir=both, style=dashed, label=\"{}\"];",
            a().name,
            b().name,
            link.table
        );
    }
    out.push_str("}\n");
    out
}
