//! Query texts kept by the connection per query *shape*: a statement tree
//! with its bound values left out. Two queries of one shape render the
//! same text (their values are all placeholders), so a query run again,
//! with other values or not, in this session or a later one on the same
//! pooled connection, finds its text written and its statement prepared
//! (a [`Text`] the connection keeps the statement of). Only its
//! parameters are collected again, by the renderer's own walk
//! ([`tree::fingerprint`]), so that their order is the text's.
//!
//! A shape is found by the fingerprint's hash and then compared node by
//! node ([`same`]): a hash alone could conflate two queries. What the
//! comparison looks at is exactly what the text is made of: everything
//! but the values, and of `LIMIT` and `OFFSET` only whether they are
//! there.
//!
//! Does not render ([`tree`] does) nor run statements ([`super::Conn`]).

use rustc_hash::FxHashMap as HashMap;

use crate::sql::Text;
#[cfg(doc)]
use crate::sql::tree;
use crate::sql::tree::{Join, Node, Order, Select};
use crate::value::Value;

/// How many shapes a connection keeps: past it, it starts over.
const KEPT: usize = 256;

/// A query with more parameters than this is rendered each time: its
/// shape seldom repeats (a key list of every length is a shape each).
const PARAMS_KEPT: usize = 64;

/// The texts a connection keeps, by the hash of their query's shape.
#[derive(Debug, Default)]
pub(crate) struct Shapes(HashMap<u64, Kept>);

/// A kept shape: the tree, its values blanked (a cache holds no user
/// data), and its text.
#[derive(Debug)]
struct Kept {
    shape: Select,
    text: Text,
}

/// What a query finds kept for its shape.
pub(crate) enum Lookup {
    /// Its text.
    Found(Text),
    /// Nothing: render, then [`Shapes::keep`] the text.
    Keep,
    /// Nothing, and nothing to keep: render each time.
    Skip,
}

impl Shapes {
    /// The text kept for `select`'s shape, found by `hash` (from
    /// [`tree::fingerprint`], with `params` parameters).
    pub(crate) fn find(&self, select: &Select, hash: u64, params: usize) -> Lookup {
        if params > PARAMS_KEPT {
            return Lookup::Skip;
        }
        match self.0.get(&hash) {
            Some(kept) if same(&kept.shape, select) => Lookup::Found(kept.text.clone()),
            // Another shape of the same hash keeps its place.
            Some(_) => Lookup::Skip,
            None => Lookup::Keep,
        }
    }

    /// Whether keeping one more shape needs room made first.
    pub(crate) fn full(&self) -> bool {
        self.0.len() >= KEPT
    }

    /// Forgets every shape.
    pub(crate) fn clear(&mut self) {
        self.0.clear();
    }

    /// Keeps `text` for `select`'s shape under `hash`; returns the text.
    pub(crate) fn keep(&mut self, hash: u64, select: &Select, text: String) -> Text {
        let mut shape = select.clone();
        blank_select(&mut shape);
        let text = Text::built(text);
        self.0.insert(
            hash,
            Kept {
                shape,
                text: text.clone(),
            },
        );
        text
    }

    /// How many shapes are kept.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }
}

/// Whether `a` and `b` render the same text: equal but for their values.
///
/// Every field is named (no `..`), so that a field added to the tree
/// cannot be left out of the comparison unnoticed.
pub(crate) fn same(a: &Select, b: &Select) -> bool {
    let Select {
        distinct,
        columns,
        from,
        joins,
        filter,
        group_by,
        having,
        order,
        limit,
        offset,
    } = a;
    *distinct == b.distinct
        && same_name(from, b.from)
        && same_nodes(columns, &b.columns)
        && same_joins(joins, &b.joins)
        && same_option(filter.as_ref(), b.filter.as_ref())
        && same_nodes(group_by, &b.group_by)
        && same_option(having.as_ref(), b.having.as_ref())
        && same_order(order, &b.order)
        && limit.is_some() == b.limit.is_some()
        && offset.is_some() == b.offset.is_some()
}

/// Names are `&'static str`s, nearly always the same pointers.
fn same_name(a: &str, b: &str) -> bool {
    std::ptr::eq(a, b) || a == b
}

fn same_nodes(a: &[Node], b: &[Node]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(a, b)| same_node(a, b))
}

fn same_option(a: Option<&Node>, b: Option<&Node>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => same_node(a, b),
        (None, None) => true,
        _ => false,
    }
}

fn same_joins(a: &[Join], b: &[Join]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(a, b)| {
            let Join {
                left,
                table,
                column,
                other_table,
                other_column,
            } = a;
            *left == b.left
                && same_name(table, b.table)
                && same_name(column, b.column)
                && same_name(other_table, b.other_table)
                && same_name(other_column, b.other_column)
        })
}

fn same_order(a: &[Order], b: &[Order]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(a, b)| {
            let Order { node, descending } = a;
            *descending == b.descending && same_node(node, &b.node)
        })
}

/// Recursive, as the tree's own `Clone` and `Drop` are: the fingerprint
/// that comes first refuses a tree deeper than SQLite allows.
fn same_node(a: &Node, b: &Node) -> bool {
    match (a, b) {
        (Node::Column { table, name }, Node::Column { table: t, name: n })
        | (Node::OuterColumn { table, name }, Node::OuterColumn { table: t, name: n }) => {
            same_name(table, t) && same_name(name, n)
        }
        (Node::Columns { table, names }, Node::Columns { table: t, names: n }) => {
            same_name(table, t) && names == n
        }
        // The value is a placeholder in the text; the column is for errors.
        (Node::Value { .. }, Node::Value { .. }) => true,
        (
            Node::Binary { left, op, right },
            Node::Binary {
                left: l,
                op: o,
                right: r,
            },
        ) => same_name(op, o) && same_node(left, l) && same_node(right, r),
        (
            Node::Like {
                subject,
                pattern,
                escaped,
            },
            Node::Like {
                subject: s,
                pattern: p,
                escaped: e,
            },
        ) => escaped == e && same_node(subject, s) && same_node(pattern, p),
        (Node::Not(a), Node::Not(b)) => same_node(a, b),
        (Node::Postfix(a, op), Node::Postfix(b, o)) => same_name(op, o) && same_node(a, b),
        (
            Node::InList { subject, values },
            Node::InList {
                subject: s,
                values: v,
            },
        ) => same_node(subject, s) && same_nodes(values, v),
        (
            Node::InSelect { subject, select },
            Node::InSelect {
                subject: s,
                select: q,
            },
        ) => same_node(subject, s) && same(select, q),
        (Node::Exists(a), Node::Exists(b)) | (Node::Scalar(a), Node::Scalar(b)) => same(a, b),
        (
            Node::Call {
                func,
                distinct,
                arg,
            },
            Node::Call {
                func: f,
                distinct: d,
                arg: a,
            },
        ) => same_name(func, f) && distinct == d && same_option(arg.as_deref(), a.as_deref()),
        (
            Node::Coalesce { value, default },
            Node::Coalesce {
                value: v,
                default: d,
            },
        ) => same_node(value, v) && same_node(default, d),
        (Node::One, Node::One) => true,
        (Node::Truth(a), Node::Truth(b)) => a == b,
        _ => false,
    }
}

fn blank_select(select: &mut Select) {
    let Select {
        columns,
        filter,
        group_by,
        having,
        order,
        limit,
        offset,
        ..
    } = select;
    let nodes = columns
        .iter_mut()
        .chain(filter.as_mut())
        .chain(group_by.iter_mut())
        .chain(having.as_mut())
        .chain(order.iter_mut().map(|o| &mut o.node));
    nodes.for_each(blank_node);
    // Only whether they are there counts.
    if limit.is_some() {
        *limit = Some(0);
    }
    if offset.is_some() {
        *offset = Some(0);
    }
}

/// Drops the values a kept shape would otherwise hold.
fn blank_node(node: &mut Node) {
    match node {
        Node::Value { value, .. } => *value = Value::Null,
        Node::Binary { left, right, .. } => {
            blank_node(left);
            blank_node(right);
        }
        Node::Like {
            subject, pattern, ..
        } => {
            blank_node(subject);
            blank_node(pattern);
        }
        Node::Not(node) | Node::Postfix(node, _) => blank_node(node),
        Node::InList { subject, values } => {
            blank_node(subject);
            values.iter_mut().for_each(blank_node);
        }
        Node::InSelect { subject, select } => {
            blank_node(subject);
            blank_select(select);
        }
        Node::Exists(select) | Node::Scalar(select) => blank_select(select),
        Node::Call { arg, .. } => {
            if let Some(arg) = arg {
                blank_node(arg);
            }
        }
        Node::Coalesce { value, default } => {
            blank_node(value);
            blank_node(default);
        }
        Node::Column { .. }
        | Node::Columns { .. }
        | Node::OuterColumn { .. }
        | Node::One
        | Node::Truth(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::Backend;
    use crate::schema::{ColumnDef, named};
    use crate::sql::tree::{ColumnNames, fingerprint, render};

    fn column(name: &'static str) -> Node {
        Node::Column {
            table: "people",
            name,
        }
    }

    fn value(value: Value) -> Node {
        Node::Value {
            value,
            column: "age",
        }
    }

    fn boxed(node: Node) -> Box<Node> {
        Box::new(node)
    }

    /// A statement with a bit of everything: a join, a correlated
    /// subquery, a key list, a pattern, an aggregate, a page.
    fn statement(a: i64, b: &str, keys: &[i64], limit: Option<i64>, offset: Option<i64>) -> Select {
        let mut inner = Select::from("pets");
        inner.columns = vec![Node::One];
        inner.and_where(Node::binary(
            Node::Column {
                table: "pets",
                name: "owner_id",
            },
            "=",
            Node::OuterColumn {
                table: "people",
                name: "id",
            },
        ));
        inner.and_where(Node::binary(
            Node::Column {
                table: "pets",
                name: "legs",
            },
            ">",
            value(Value::Integer(a)),
        ));
        let mut select = Select::from("people");
        select.columns = vec![
            column("id"),
            Node::Call {
                func: "count",
                distinct: true,
                arg: Some(boxed(column("name"))),
            },
        ];
        select.joins.push(Join {
            left: true,
            table: "cities",
            column: "id",
            other_table: "people",
            other_column: "city_id",
        });
        select.and_where(Node::Exists(Box::new(inner)));
        select.and_where(Node::Like {
            subject: boxed(column("name")),
            pattern: boxed(value(Value::Text(b.into()))),
            escaped: true,
        });
        select.and_where(Node::InList {
            subject: boxed(column("age")),
            values: keys.iter().map(|k| value(Value::Integer(*k))).collect(),
        });
        select.group_by = vec![column("id")];
        select.having = Some(Node::binary(
            Node::Coalesce {
                value: boxed(column("age")),
                default: boxed(value(Value::Integer(a * 2))),
            },
            "<",
            value(Value::Real(1.5)),
        ));
        select.order = vec![Order {
            node: column("name"),
            descending: true,
        }];
        select.limit = limit;
        select.offset = offset;
        select
    }

    fn hash(select: &Select) -> u64 {
        fingerprint(select, Backend::Sqlite)
            .expect("fingerprints")
            .0
    }

    fn sql(select: &Select, dialect: Backend) -> String {
        render(select, dialect).expect("renders").sql
    }

    #[test]
    fn queries_equal_but_for_their_values_are_one_shape() {
        let one = statement(1, "a%", &[1, 2], Some(10), Some(20));
        let other = statement(7, "zz", &[8, 9], Some(1), Some(0));
        assert!(same(&one, &other));
        assert_eq!(hash(&one), hash(&other));
        for dialect in [Backend::Sqlite, Backend::Postgres] {
            assert_eq!(sql(&one, dialect), sql(&other, dialect));
        }
    }

    #[test]
    fn a_difference_in_anything_but_values_is_another_shape() {
        let base = || statement(1, "a%", &[1, 2], Some(10), None);
        let mut changed: Vec<(&str, Select)> = Vec::new();
        let mut change = |what, edit: &dyn Fn(&mut Select)| {
            let mut select = base();
            edit(&mut select);
            changed.push((what, select));
        };
        change("distinct", &|s| s.distinct = true);
        change("a column", &|s| s.columns[0] = column("age"));
        change("a column's table", &|s| {
            s.columns[0] = Node::Column {
                table: "cities",
                name: "id",
            }
        });
        change("the table", &|s| s.from = "persons");
        change("an inner join", &|s| s.joins[0].left = false);
        change("no join", &|s| s.joins.clear());
        change("a key list's length", &|s| {
            s.filter = Some(Node::InList {
                subject: boxed(column("age")),
                values: vec![value(Value::Integer(1))],
            })
        });
        change("no limit", &|s| s.limit = None);
        change("an offset", &|s| s.offset = Some(0));
        change("an ascending order", &|s| s.order[0].descending = false);
        change("no grouping", &|s| s.group_by.clear());
        change("no having", &|s| s.having = None);
        change("an operator", &|s| {
            s.having = Some(Node::binary(column("age"), ">", value(Value::Integer(1))))
        });
        change("a truth", &|s| s.filter = Some(Node::Truth(true)));
        let base = base();
        for (what, select) in &changed {
            assert!(!same(&base, select), "{what}: another shape");
            // The comparison follows the text: each change shows in it.
            let text = sql(select, Backend::Sqlite);
            assert_ne!(sql(&base, Backend::Sqlite), text, "{what}: another text");
        }
        let truth = |holds| Select {
            filter: Some(Node::Truth(holds)),
            ..base.clone()
        };
        assert!(!same(&truth(true), &truth(false)));
    }

    static PEOPLE: [ColumnDef; 2] = [named("id"), named("name")];
    static PEOPLE_AGAIN: [ColumnDef; 2] = [named("id"), named("name")];
    static OTHER_PEOPLE: [ColumnDef; 2] = [named("id"), named("age")];

    #[test]
    fn a_models_columns_are_one_shape_by_their_names_wherever_listed() {
        let of = |names: &'static [ColumnDef], table| {
            let mut select = Select::from(table);
            select.columns = vec![Node::Columns {
                table,
                names: ColumnNames(names),
            }];
            select
        };
        let people = of(&PEOPLE, "people");
        // Equal lists at two addresses (a const copied into two places).
        let again = of(&PEOPLE_AGAIN, "people");
        assert!(same(&people, &again));
        assert_eq!(hash(&people), hash(&again));
        for other in [of(&OTHER_PEOPLE, "people"), of(&PEOPLE, "persons")] {
            assert!(!same(&people, &other));
            assert_ne!(hash(&people), hash(&other));
            for dialect in [Backend::Sqlite, Backend::Postgres] {
                assert_ne!(sql(&people, dialect), sql(&other, dialect));
            }
        }
        // One node or a node per column: the same text.
        let mut one_each = people.clone();
        one_each.columns = vec![column("id"), column("name")];
        for dialect in [Backend::Sqlite, Backend::Postgres] {
            assert_eq!(sql(&people, dialect), sql(&one_each, dialect));
        }
    }

    #[test]
    fn filters_that_differ_in_one_part_are_other_shapes_and_other_texts() {
        let filtered = |filter: Node| {
            let mut select = Select::from("people");
            select.columns = vec![column("id")];
            select.filter = Some(filter);
            select
        };
        let like = |escaped| Node::Like {
            subject: boxed(column("name")),
            pattern: boxed(value(Value::Text("a".into()))),
            escaped,
        };
        let call = |func, distinct| Node::Call {
            func,
            distinct,
            arg: Some(boxed(column("age"))),
        };
        let exists = |outer: &'static str| {
            let mut inner = Select::from("people");
            inner.columns = vec![Node::One];
            inner.and_where(Node::binary(
                column("id"),
                "=",
                Node::OuterColumn {
                    table: "people",
                    name: outer,
                },
            ));
            Node::Exists(Box::new(inner))
        };
        let coalesce = |default: Node| Node::Coalesce {
            value: boxed(column("age")),
            default: boxed(default),
        };
        let in_select = |scalar: bool| {
            let mut inner = Select::from("pets");
            inner.columns = vec![Node::Column {
                table: "pets",
                name: "owner_id",
            }];
            if scalar {
                Node::binary(column("id"), "=", Node::Scalar(Box::new(inner)))
            } else {
                Node::InSelect {
                    subject: boxed(column("id")),
                    select: Box::new(inner),
                }
            }
        };
        let pairs = [
            ("escaped", like(true), like(false)),
            ("a function", call("max", false), call("min", false)),
            ("distinct", call("count", false), call("count", true)),
            ("an outer column", exists("id"), exists("manager_id")),
            (
                "a value for a column",
                coalesce(value(Value::Integer(1))),
                coalesce(column("id")),
            ),
            ("a subquery's kind", in_select(false), in_select(true)),
            ("a negation", Node::Not(boxed(like(false))), like(false)),
            (
                "a postfix",
                Node::Postfix(boxed(column("age")), "IS NULL"),
                Node::Postfix(boxed(column("age")), "IS NOT NULL"),
            ),
        ];
        for (what, a, b) in pairs {
            let (a, b) = (filtered(a), filtered(b));
            assert!(!same(&a, &b), "{what}: another shape");
            for dialect in [Backend::Sqlite, Backend::Postgres] {
                assert_ne!(sql(&a, dialect), sql(&b, dialect), "{what}: another text");
            }
            assert!(same(&a, &a.clone()), "{what}: a shape is its own");
        }
    }

    #[test]
    fn the_fingerprint_collects_the_parameters_of_the_render_in_its_order() {
        let select = statement(3, "b_%", &[4, 5, 6], Some(2), Some(1));
        for dialect in [Backend::Sqlite, Backend::Postgres] {
            let (_, fingerprinted) = fingerprint(&select, dialect).expect("fingerprints");
            let rendered = render(&select, dialect).expect("renders");
            assert_eq!(fingerprinted.params, rendered.params, "{dialect:?}");
            assert!(fingerprinted.sql.is_empty(), "no text written");
        }
        let (_, params) = fingerprint(&select, Backend::Sqlite).expect("fingerprints");
        let values: Vec<Value> = params.params.into_iter().map(|(v, _)| v).collect();
        assert_eq!(
            values,
            [
                Value::Integer(3),
                Value::Text("b_%".into()),
                Value::Integer(4),
                Value::Integer(5),
                Value::Integer(6),
                Value::Integer(6),
                Value::Real(1.5),
                Value::Integer(2),
                Value::Integer(1),
            ]
        );
    }

    #[test]
    fn a_kept_shape_holds_no_values_and_is_found_by_its_shape() {
        let select = statement(3, "secret", &[4], Some(2), None);
        let mut shapes = Shapes::default();
        let h = hash(&select);
        assert!(matches!(shapes.find(&select, h, 6), Lookup::Keep));
        let kept = shapes.keep(h, &select, sql(&select, Backend::Sqlite));
        assert!(!format!("{:?}", shapes.0[&h].shape).contains("secret"));
        let again = statement(9, "other", &[5], Some(7), None);
        let Lookup::Found(found) = shapes.find(&again, hash(&again), 6) else {
            panic!("the same shape is found");
        };
        assert!(std::ptr::eq(&*found, &*kept), "the very text kept");
        // A different shape under the same hash is not taken for it.
        let other = statement(3, "secret", &[4, 5], Some(2), None);
        assert!(matches!(shapes.find(&other, h, 7), Lookup::Skip));
        assert!(matches!(
            shapes.find(&select, h, PARAMS_KEPT + 1),
            Lookup::Skip
        ));
    }
}
