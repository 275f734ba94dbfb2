//! Query statements as trees, and their one rendering into SQL text with
//! bound parameters. `query` builds the trees from typed columns and
//! relationships; this module alone decides how they read as SQL, so a
//! second backend renders the same trees its own way (placeholders,
//! quoting) without the query builder knowing.
//!
//! Columns are written bare (`"email"`) while a statement reads one table,
//! and qualified (`"users"."email"`) as soon as it reads more (a join, a
//! subquery). A correlated subquery over the table it sits in (a
//! relationship of a model to itself) gives its own copy an alias
//! (`"users_1"`), so the inner and outer rows stay apart.

use std::hash::Hasher;

use rustc_hash::FxHasher;

use crate::backend::Backend;
use crate::error::{Error, Misuse, Result};
use crate::schema::ColumnDef;
use crate::sql::push_quoted;
use crate::value::Value;

/// One expression of a statement.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    /// A column of a table the statement (or the innermost subquery) reads.
    Column {
        table: &'static str,
        name: &'static str,
    },
    /// Every column of a model's table, in the order of its struct: what
    /// a query of the model reads. One node rather than one per column, so
    /// that finding the query's kept text hashes and compares them at once.
    Columns {
        table: &'static str,
        names: ColumnNames,
    },
    /// A column of the statement around a correlated subquery.
    OuterColumn {
        table: &'static str,
        name: &'static str,
    },
    /// A bound value, with the column it is compared with (for errors).
    Value { value: Value, column: &'static str },
    /// `left op right`, parenthesised where operands are compound.
    Binary {
        left: Box<Node>,
        op: &'static str,
        right: Box<Node>,
    },
    /// `subject LIKE ?`, with `ESCAPE '\'` for patterns built to match literally.
    Like {
        subject: Box<Node>,
        pattern: Box<Node>,
        escaped: bool,
    },
    /// `NOT (node)`
    Not(Box<Node>),
    /// `node IS NULL` and the like.
    Postfix(Box<Node>, &'static str),
    /// `subject IN (v1, v2, ...)`; an empty list is false.
    InList {
        subject: Box<Node>,
        values: Vec<Node>,
    },
    /// `subject IN (SELECT ...)`
    InSelect {
        subject: Box<Node>,
        select: Box<Select>,
    },
    /// `EXISTS (SELECT ...)`
    Exists(Box<Select>),
    /// `(SELECT ...)`, one row of one column.
    Scalar(Box<Select>),
    /// An aggregate: `count(*)` when `arg` is `None`.
    Call {
        func: &'static str,
        distinct: bool,
        arg: Option<Box<Node>>,
    },
    /// `coalesce(value, default)`: the default where the value is NULL.
    Coalesce {
        value: Box<Node>,
        default: Box<Node>,
    },
    /// The constant `1`, as `SELECT 1` in `EXISTS`.
    One,
    /// A condition that always holds, or never (`1 = 1`, `0 = 1`: SQL
    /// both backends read as a truth value).
    Truth(bool),
}

/// The names of a table's columns, as its model's metadata lists them.
#[derive(Clone, Copy)]
pub struct ColumnNames(pub &'static [ColumnDef]);

impl ColumnNames {
    fn iter(self) -> impl Iterator<Item = &'static str> {
        self.0.iter().map(|c| c.name)
    }
}

impl PartialEq for ColumnNames {
    fn eq(&self, other: &ColumnNames) -> bool {
        std::ptr::eq(self.0, other.0) || self.iter().eq(other.iter())
    }
}

impl std::fmt::Debug for ColumnNames {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// A join along a relationship: `JOIN table ON table.column = other.other_column`.
#[derive(Debug, Clone, PartialEq)]
pub struct Join {
    pub left: bool,
    pub table: &'static str,
    pub column: &'static str,
    pub other_table: &'static str,
    pub other_column: &'static str,
}

/// A term of `ORDER BY`.
#[derive(Debug, Clone, PartialEq)]
pub struct Order {
    pub node: Node,
    pub descending: bool,
}

/// A `SELECT` statement.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Select {
    pub distinct: bool,
    pub columns: Vec<Node>,
    pub from: &'static str,
    pub joins: Vec<Join>,
    pub filter: Option<Node>,
    pub group_by: Vec<Node>,
    pub having: Option<Node>,
    pub order: Vec<Order>,
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

/// `UPDATE table SET ... WHERE ... RETURNING ...` (every row matching
/// the filter).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Update {
    pub table: &'static str,
    pub set: Vec<(&'static str, Node)>,
    pub filter: Option<Node>,
    pub returning: Vec<&'static str>,
}

/// `DELETE FROM table WHERE ... RETURNING ...`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Delete {
    pub table: &'static str,
    pub filter: Option<Node>,
    pub returning: Vec<&'static str>,
}

impl Select {
    /// A statement over `table`, with no columns yet.
    pub(crate) fn from(table: &'static str) -> Select {
        Select {
            from: table,
            ..Select::default()
        }
    }

    /// Adds `condition` to the `WHERE` clause with `AND`.
    pub(crate) fn and_where(&mut self, condition: Node) {
        and(&mut self.filter, condition);
    }

    /// The tables the statement reads at its own level.
    fn tables(&self) -> impl Iterator<Item = &'static str> + '_ {
        std::iter::once(self.from).chain(self.joins.iter().map(|j| j.table))
    }

    fn has_subquery(&self) -> bool {
        let nodes = self
            .columns
            .iter()
            .chain(&self.filter)
            .chain(&self.group_by)
            .chain(&self.having)
            .chain(self.order.iter().map(|o| &o.node));
        nodes.into_iter().any(Node::has_subquery)
    }
}

impl Node {
    pub(crate) fn binary(left: Node, op: &'static str, right: Node) -> Node {
        Node::Binary {
            left: Box::new(left),
            op,
            right: Box::new(right),
        }
    }

    /// Whether a subquery is anywhere inside (walked with a stack of its
    /// own: an expression may nest deeper than recursion should go).
    fn has_subquery(&self) -> bool {
        // A leaf (a selected column, most often) needs no stack.
        if self.is_leaf() {
            return false;
        }
        let mut stack = vec![self];
        while let Some(node) = stack.pop() {
            match node {
                Node::InSelect { .. } | Node::Exists(_) | Node::Scalar(_) => return true,
                Node::Binary { left, right, .. } => stack.extend([&**left, &**right]),
                Node::Like {
                    subject, pattern, ..
                } => stack.extend([&**subject, &**pattern]),
                Node::Not(n) | Node::Postfix(n, _) => stack.push(n),
                Node::InList { subject, values } => {
                    stack.push(subject);
                    stack.extend(values);
                }
                Node::Call { arg, .. } => stack.extend(arg.as_deref()),
                Node::Coalesce { value, default } => stack.extend([&**value, &**default]),
                Node::Column { .. }
                | Node::Columns { .. }
                | Node::OuterColumn { .. }
                | Node::Value { .. }
                | Node::One
                | Node::Truth(_) => {}
            }
        }
        false
    }

    /// Whether the node has no parts: a column, a value, a constant.
    fn is_leaf(&self) -> bool {
        matches!(
            self,
            Node::Column { .. }
                | Node::Columns { .. }
                | Node::OuterColumn { .. }
                | Node::Value { .. }
                | Node::One
                | Node::Truth(_)
        )
    }

    /// Whether the node is compound (so it needs parentheses as an operand).
    fn compound(&self) -> bool {
        matches!(
            self,
            Node::Binary { .. }
                | Node::Like { .. }
                | Node::Not(_)
                | Node::Postfix(..)
                | Node::InList { .. }
                | Node::InSelect { .. }
                | Node::Truth(_)
        )
    }
}

/// Adds `condition` to the clause `clause` (a `WHERE` or `HAVING`) with `AND`.
pub(crate) fn and(clause: &mut Option<Node>, condition: Node) {
    *clause = Some(match clause.take() {
        Some(previous) => Node::binary(previous, "AND", condition),
        None => condition,
    });
}

/// A statement's text and its parameters, in placeholder order.
#[derive(Debug)]
pub(crate) struct Rendered {
    pub sql: String,
    pub params: Vec<(Value, &'static str)>,
}

impl Rendered {
    /// Room for a statement's text: most fit, so the text grows at most
    /// once instead of five times from empty.
    const TEXT_ROOM: usize = 256;

    fn new() -> Rendered {
        Rendered {
            sql: String::with_capacity(Self::TEXT_ROOM),
            params: Vec::new(),
        }
    }

    /// The parameters, bound by position with the column each is for.
    pub(crate) fn params(&self) -> Vec<crate::sql::Param<'_>> {
        params(&self.params)
    }
}

/// Parameters to bind by position, each with the column it is for.
pub(crate) fn params<'v>(params: &'v [(Value, &'static str)]) -> Vec<crate::sql::Param<'v>> {
    params
        .iter()
        .map(|(v, c)| crate::sql::Param::new(v.as_ref(), c))
        .collect()
}

/// Renders `select` into SQL text and parameters.
///
/// # Errors
/// [`Misuse::JoinedTwice`] when a statement joins a table it already
/// reads; [`Error::TooDeep`] for an expression nested deeper than SQLite
/// allows.
pub(crate) fn render(select: &Select, dialect: Backend) -> Result<Rendered> {
    let mut renderer = Renderer {
        out: Rendered::new(),
        fingerprint: None,
        qualify: !select.joins.is_empty() || select.has_subquery(),
        levels: Vec::new(),
        depth: 0,
        dialect,
    };
    renderer.select(select)?;
    Ok(renderer.out)
}

/// A hash of the text `select` renders into, and its parameters in
/// placeholder order, without writing the text: the way a query finds its
/// text kept for its shape ([`super::shape`]). The walk is the
/// renderer's own, so the parameters come in the order the text's
/// placeholders do.
///
/// Two statements of one shape hash alike; two of different shapes
/// nearly always do not, but only [`super::shape::same`] says for sure.
/// Checks nothing a full render checks but the depth (a shape that
/// rendered once renders again).
///
/// # Errors
/// [`Error::TooDeep`] for an expression nested deeper than SQLite allows.
pub(crate) fn fingerprint(select: &Select, dialect: Backend) -> Result<(u64, Rendered)> {
    let mut renderer = Renderer {
        out: Rendered {
            sql: String::new(),
            params: Vec::new(),
        },
        fingerprint: Some(FxHasher::default()),
        // Qualified or not, and aliased or not, follow from the tree's
        // shape: the same for every statement that hashes alike.
        qualify: false,
        levels: Vec::new(),
        depth: 0,
        dialect,
    };
    renderer.select(select)?;
    let hash = renderer.fingerprint.map_or(0, |hasher| hasher.finish());
    Ok((hash, renderer.out))
}

/// Renders an UPDATE (its filter may hold subqueries, such as `any`).
///
/// # Errors
/// As [`render`].
pub(crate) fn render_update(update: &Update, dialect: Backend) -> Result<Rendered> {
    let mut renderer = Renderer::over(update.table, update.filter.as_ref(), dialect);
    renderer.push("UPDATE ");
    renderer.table(update.table);
    for (i, (column, value)) in update.set.iter().enumerate() {
        renderer.push(if i == 0 { " SET " } else { ", " });
        renderer.quoted(column);
        renderer.push(" = ");
        renderer.node(value)?;
    }
    renderer.filter_and_returning(update.filter.as_ref(), &update.returning)?;
    Ok(renderer.out)
}

/// Renders a DELETE.
///
/// # Errors
/// As [`render`].
pub(crate) fn render_delete(delete: &Delete, dialect: Backend) -> Result<Rendered> {
    let mut renderer = Renderer::over(delete.table, delete.filter.as_ref(), dialect);
    renderer.push("DELETE FROM ");
    renderer.table(delete.table);
    renderer.filter_and_returning(delete.filter.as_ref(), &delete.returning)?;
    Ok(renderer.out)
}

/// Renders `SELECT <key> FROM <table> WHERE <the delete's filter>`, with
/// the rows locked where the backend must: the keys of the rows `delete`
/// would delete, read before it where a cascade must follow them past rows
/// that are not loaded. The rows are then deleted by these keys, so that
/// the filter is read once.
pub(crate) fn render_delete_keys(delete: &Delete, key: &str, dialect: Backend) -> Result<Rendered> {
    let mut renderer = Renderer::over(delete.table, delete.filter.as_ref(), dialect);
    renderer.push("SELECT ");
    renderer.quoted(key);
    renderer.push(" FROM ");
    renderer.table(delete.table);
    renderer.filter_and_returning(delete.filter.as_ref(), &[])?;
    renderer.push(dialect.lock_rows());
    Ok(renderer.out)
}

/// Renders one expression as it reads in a SQLite statement over one table.
pub(crate) fn render_expr(node: &Node) -> Result<Rendered> {
    let mut renderer = Renderer {
        out: Rendered::new(),
        fingerprint: None,
        qualify: node.has_subquery(),
        levels: Vec::new(),
        depth: 0,
        dialect: Backend::Sqlite,
    };
    renderer.node(node)?;
    Ok(renderer.out)
}

/// The tables one statement level reads, each with the name it goes by
/// there (an alias where an outer level reads the same table).
type Level = Vec<(&'static str, Option<String>)>;

/// How deep an expression may nest: SQLite's own limit.
const MAX_DEPTH: usize = 1000;

struct Renderer {
    out: Rendered,
    /// Set while fingerprinting: the text's pieces are hashed, not
    /// written, and only the parameters are collected.
    fingerprint: Option<FxHasher>,
    qualify: bool,
    levels: Vec<Level>,
    depth: usize,
    dialect: Backend,
}

impl Renderer {
    /// A renderer for a statement that writes `table`, filtered by `filter`.
    fn over(table: &'static str, filter: Option<&Node>, dialect: Backend) -> Renderer {
        Renderer {
            out: Rendered::new(),
            fingerprint: None,
            qualify: filter.is_some_and(Node::has_subquery),
            levels: vec![vec![(table, None)]],
            depth: 0,
            dialect,
        }
    }

    fn filter_and_returning(&mut self, filter: Option<&Node>, returning: &[&str]) -> Result<()> {
        if let Some(filter) = filter {
            self.push(" WHERE ");
            self.node(filter)?;
        }
        for (i, column) in returning.iter().enumerate() {
            self.push(if i == 0 { " RETURNING " } else { ", " });
            self.quoted(column);
        }
        Ok(())
    }

    fn push(&mut self, text: &str) {
        match &mut self.fingerprint {
            Some(hasher) => hasher.write(text.as_bytes()),
            None => self.out.sql.push_str(text),
        }
    }

    /// An identifier, quoted.
    fn quoted(&mut self, identifier: &str) {
        match &mut self.fingerprint {
            Some(hasher) => {
                hasher.write(identifier.as_bytes());
                // Ends the name, so that `"ab"` and `"a" "b"` differ.
                hasher.write_u8(0xff);
            }
            None => push_quoted(&mut self.out.sql, identifier),
        }
    }

    fn select(&mut self, select: &Select) -> Result<()> {
        self.enter(select)?;
        self.push("SELECT ");
        if select.distinct {
            self.push("DISTINCT ");
        }
        self.list(&select.columns)?;
        self.push(" FROM ");
        self.table(select.from);
        for join in &select.joins {
            self.push(if join.left { " LEFT JOIN " } else { " JOIN " });
            self.table(join.table);
            self.push(" ON ");
            self.column(join.table, join.column, 0);
            self.push(" = ");
            self.column(join.other_table, join.other_column, 0);
        }
        if let Some(filter) = &select.filter {
            self.push(" WHERE ");
            self.node(filter)?;
        }
        if !select.group_by.is_empty() {
            self.push(" GROUP BY ");
            self.list(&select.group_by)?;
        }
        if let Some(having) = &select.having {
            self.push(" HAVING ");
            self.node(having)?;
        }
        self.order(&select.order)?;
        // SQLite takes an OFFSET only after a LIMIT (-1: none);
        // PostgreSQL refuses a negative one.
        let no_limit = (self.dialect == Backend::Sqlite).then_some(-1);
        if let Some(limit) = select.limit.or(select.offset.and(no_limit)) {
            self.push(" LIMIT ");
            self.param(Value::Integer(limit), "LIMIT");
        }
        if let Some(offset) = select.offset {
            self.push(" OFFSET ");
            self.param(Value::Integer(offset), "OFFSET");
        }
        self.levels.pop();
        Ok(())
    }

    /// Opens a statement level: its tables, aliased where an outer level
    /// reads them too.
    fn enter(&mut self, select: &Select) -> Result<()> {
        // A fingerprint writes no alias: the tables hashed say them.
        if self.fingerprint.is_some() {
            return Ok(());
        }
        let depth = self.levels.len();
        let mut level: Level = Vec::new();
        for table in select.tables() {
            if level.iter().any(|(t, _)| *t == table) {
                return Err(Misuse::JoinedTwice { table }.into());
            }
            let outer = self.levels.iter().flatten().any(|(t, _)| *t == table);
            level.push((table, outer.then(|| format!("{table}_{depth}"))));
        }
        self.levels.push(level);
        Ok(())
    }

    /// `"table"`, or `"table" AS "alias"`.
    fn table(&mut self, table: &'static str) {
        self.quoted(table);
        if let Some(alias) = self.alias(table, 0) {
            self.push(" AS ");
            self.quoted(&alias);
        }
    }

    /// The alias `table` goes by, looking outward from `skip` levels up.
    fn alias(&self, table: &str, skip: usize) -> Option<String> {
        self.levels
            .iter()
            .rev()
            .skip(skip)
            .find_map(|level| level.iter().find(|(t, _)| *t == table))
            .and_then(|(_, alias)| alias.clone())
    }

    fn column(&mut self, table: &'static str, name: &'static str, skip: usize) {
        if self.qualify {
            let alias = self.alias(table, skip);
            self.quoted(alias.as_deref().unwrap_or(table));
            self.push(".");
        }
        self.quoted(name);
    }

    /// Every column of `table`, as `column` writes each. A fingerprint
    /// hashes the table and the names: qualifying them or not, and the
    /// table's alias, follow from the rest of the shape, which
    /// `shape::same` compares too.
    fn columns(&mut self, table: &'static str, names: ColumnNames) {
        if let Some(hasher) = &mut self.fingerprint {
            hasher.write(table.as_bytes());
            for name in names.iter() {
                hasher.write_u8(0xff);
                hasher.write(name.as_bytes());
            }
            hasher.write_u8(0xfe);
            return;
        }
        for (i, name) in names.iter().enumerate() {
            if i > 0 {
                self.push(", ");
            }
            self.column(table, name, 0);
        }
    }

    /// A bound value. The one place a placeholder is written.
    fn param(&mut self, value: Value, column: &'static str) {
        self.out.params.push((value, column));
        let n = self.out.params.len();
        match &mut self.fingerprint {
            Some(hasher) => hasher.write_u8(b'?'),
            None => self.dialect.push_placeholder(&mut self.out.sql, n),
        }
    }

    fn list(&mut self, nodes: &[Node]) -> Result<()> {
        for (i, node) in nodes.iter().enumerate() {
            if i > 0 {
                self.push(", ");
            }
            self.node(node)?;
        }
        Ok(())
    }

    fn order(&mut self, order: &[Order]) -> Result<()> {
        for (i, term) in order.iter().enumerate() {
            self.push(if i == 0 { " ORDER BY " } else { ", " });
            self.node(&term.node)?;
            self.push(self.dialect.order(term.descending));
        }
        Ok(())
    }

    fn subquery(&mut self, select: &Select) -> Result<()> {
        self.push("(");
        self.select(select)?;
        self.push(")");
        Ok(())
    }

    /// Writes `node` with a work list of its own instead of recursion: an
    /// expression may nest as deep as SQLite allows (1,000 levels, a
    /// filter of `or`s built one inside the other), deeper than the stack
    /// of a thread should go. Only subqueries recurse, one level each.
    fn node(&mut self, node: &Node) -> Result<()> {
        let base = self.depth;
        // A leaf (a selected column, most often) needs no work list.
        if base < MAX_DEPTH && self.leaf(node) {
            return Ok(());
        }
        // The node itself is taken before the list: a compound node
        // allocates the list when it queues its parts.
        let mut first = Some(Task::Node(node, base + 1));
        let mut tasks = Vec::new();
        while let Some(task) = first.take().or_else(|| tasks.pop()) {
            match task {
                Task::Text(text) => self.push(text),
                Task::Node(node, depth) => {
                    if depth > MAX_DEPTH {
                        self.depth = base;
                        return Err(Error::TooDeep { limit: MAX_DEPTH });
                    }
                    self.expand(node, depth, &mut tasks);
                }
                Task::Subquery(select, depth) => {
                    self.depth = depth;
                    let done = self.subquery(select);
                    self.depth = base;
                    done?;
                }
            }
        }
        Ok(())
    }

    /// Writes what of `node` is text now, and queues its parts (pushed in
    /// reverse, as the list is a stack).
    fn expand<'n>(&mut self, node: &'n Node, depth: usize, tasks: &mut Vec<Task<'n>>) {
        if self.leaf(node) {
            return;
        }
        let inner = depth + 1;
        let start = tasks.len();
        let mut queue = Queue { tasks, start };
        match node {
            Node::Column { .. }
            | Node::Columns { .. }
            | Node::OuterColumn { .. }
            | Node::Value { .. }
            | Node::One
            | Node::Truth(_) => {}
            Node::Binary { left, op, right } => {
                queue.operand(left, inner);
                queue.text(" ");
                queue.text(op);
                queue.text(" ");
                queue.operand(right, inner);
            }
            Node::Like {
                subject,
                pattern,
                escaped,
            } => {
                queue.operand(subject, inner);
                // SQLite's LIKE ignores the case of ASCII letters;
                // PostgreSQL's ILIKE is the one that does.
                queue.text(match self.dialect {
                    Backend::Sqlite => " LIKE ",
                    Backend::Postgres => " ILIKE ",
                });
                queue.operand(pattern, inner);
                if *escaped {
                    queue.text(" ESCAPE '\\'");
                } else if self.dialect == Backend::Postgres {
                    // PostgreSQL's LIKE escapes with `\` unless told
                    // otherwise; SQLite's has no escape character.
                    queue.text(" ESCAPE ''");
                }
            }
            Node::Not(operand) => {
                queue.text("NOT ");
                queue.operand(operand, inner);
            }
            Node::Postfix(operand, op) => {
                queue.operand(operand, inner);
                queue.text(" ");
                queue.text(op);
            }
            // `x IN ()` is not SQL; an empty list matches nothing.
            Node::InList { values, .. } if values.is_empty() => self.push("0 = 1"),
            Node::InList { subject, values } => {
                queue.operand(subject, inner);
                queue.text(" IN (");
                for (i, value) in values.iter().enumerate() {
                    if i > 0 {
                        queue.text(", ");
                    }
                    queue.node(value, inner);
                }
                queue.text(")");
            }
            Node::InSelect { subject, select } => {
                queue.operand(subject, inner);
                queue.text(" IN ");
                queue.subquery(select, inner);
            }
            Node::Exists(select) => {
                queue.text("EXISTS ");
                queue.subquery(select, inner);
            }
            Node::Scalar(select) => queue.subquery(select, inner),
            Node::Call {
                func,
                distinct,
                arg,
            } => {
                queue.text(func);
                queue.text("(");
                match arg {
                    Some(arg) => {
                        if *distinct {
                            queue.text("DISTINCT ");
                        }
                        queue.node(arg, inner);
                    }
                    None => queue.text("*"),
                }
                queue.text(")");
            }
            Node::Coalesce { value, default } => {
                queue.text("coalesce(");
                queue.node(value, inner);
                queue.text(", ");
                queue.node(default, inner);
                queue.text(")");
            }
        }
        queue.finish();
    }

    /// Writes `node` if it is a leaf (see [`Node::is_leaf`]); returns
    /// whether it was.
    fn leaf(&mut self, node: &Node) -> bool {
        match node {
            Node::Column { table, name } => self.column(table, name, 0),
            Node::Columns { table, names } => self.columns(table, *names),
            Node::OuterColumn { table, name } => self.column(table, name, 1),
            Node::Value { value, column } => self.param(value.clone(), column),
            Node::One => self.push("1"),
            Node::Truth(true) => self.push("1 = 1"),
            Node::Truth(false) => self.push("0 = 1"),
            _ => return false,
        }
        true
    }
}

/// A step of writing an expression.
enum Task<'n> {
    Text(&'n str),
    Node(&'n Node, usize),
    Subquery(&'n Select, usize),
}

/// The parts of one node, queued in writing order and reversed onto the
/// work list when done.
struct Queue<'t, 'n> {
    tasks: &'t mut Vec<Task<'n>>,
    start: usize,
}

impl<'n> Queue<'_, 'n> {
    fn text(&mut self, text: &'n str) {
        self.tasks.push(Task::Text(text));
    }

    fn node(&mut self, node: &'n Node, depth: usize) {
        self.tasks.push(Task::Node(node, depth));
    }

    /// A node as an operand: parenthesised where it is compound.
    fn operand(&mut self, node: &'n Node, depth: usize) {
        if node.compound() {
            self.text("(");
            self.node(node, depth);
            self.text(")");
        } else {
            self.node(node, depth);
        }
    }

    fn subquery(&mut self, select: &'n Select, depth: usize) {
        self.tasks.push(Task::Subquery(select, depth));
    }

    fn finish(self) {
        self.tasks[self.start..].reverse();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::named;

    fn column(table: &'static str, name: &'static str) -> Node {
        Node::Column { table, name }
    }

    #[test]
    fn one_table_statements_write_bare_columns() {
        let mut select = Select::from("users");
        select.columns = vec![column("users", "id"), column("users", "name")];
        select.and_where(Node::binary(
            column("users", "name"),
            "=",
            Node::Value {
                value: Value::Text("Ann".into()),
                column: "name",
            },
        ));
        let rendered = render(&select, Backend::Sqlite).expect("renders");
        assert_eq!(
            rendered.sql,
            r#"SELECT "id", "name" FROM "users" WHERE "name" = ?"#
        );
        assert_eq!(rendered.params.len(), 1);
    }

    #[test]
    fn a_models_columns_are_written_bare_or_qualified_as_single_columns_are() {
        static USERS: [ColumnDef; 3] = [named("id"), named("name"), named("city_id")];
        let mut select = Select::from("users");
        select.columns = vec![Node::Columns {
            table: "users",
            names: ColumnNames(&USERS),
        }];
        let rendered = render(&select, Backend::Sqlite).expect("renders");
        assert_eq!(
            rendered.sql,
            r#"SELECT "id", "name", "city_id" FROM "users""#
        );
        select.joins.push(Join {
            left: false,
            table: "cities",
            column: "id",
            other_table: "users",
            other_column: "city_id",
        });
        let rendered = render(&select, Backend::Postgres).expect("renders");
        assert_eq!(
            rendered.sql,
            r#"SELECT "users"."id", "users"."name", "users"."city_id" FROM "users" JOIN "cities" ON "cities"."id" = "users"."city_id""#
        );
    }

    #[test]
    fn postgres_numbers_its_placeholders_and_offsets_without_a_limit() {
        let mut select = Select::from("users");
        select.columns = vec![column("users", "id")];
        let value = |v: &str| Node::Value {
            value: Value::Text(v.into()),
            column: "name",
        };
        select.and_where(Node::binary(column("users", "name"), "=", value("Ann")));
        select.and_where(Node::Like {
            subject: Box::new(column("users", "name")),
            pattern: Box::new(value("a%")),
            escaped: false,
        });
        select.offset = Some(5);
        assert_eq!(
            render(&select, Backend::Postgres).expect("renders").sql,
            r#"SELECT "id" FROM "users" WHERE ("name" = $1) AND ("name" ILIKE $2 ESCAPE '') OFFSET $3"#
        );
        assert_eq!(
            render(&select, Backend::Sqlite).expect("renders").sql,
            r#"SELECT "id" FROM "users" WHERE ("name" = ?) AND ("name" LIKE ?) LIMIT ? OFFSET ?"#
        );
    }

    #[test]
    fn a_correlated_subquery_over_its_own_table_is_aliased() {
        let mut inner = Select::from("people");
        inner.columns = vec![Node::One];
        inner.and_where(Node::binary(
            column("people", "id"),
            "=",
            Node::OuterColumn {
                table: "people",
                name: "manager_id",
            },
        ));
        let mut select = Select::from("people");
        select.columns = vec![column("people", "id")];
        select.and_where(Node::Exists(Box::new(inner)));
        assert_eq!(
            render(&select, Backend::Sqlite).expect("renders").sql,
            r#"SELECT "people"."id" FROM "people" WHERE EXISTS (SELECT 1 FROM "people" AS "people_1" WHERE "people_1"."id" = "people"."manager_id")"#
        );
    }

    #[test]
    fn joining_a_table_twice_is_refused() {
        let mut select = Select::from("users");
        select.columns = vec![Node::One];
        select.joins.push(Join {
            left: false,
            table: "users",
            column: "id",
            other_table: "users",
            other_column: "manager_id",
        });
        assert!(matches!(
            render(&select, Backend::Sqlite),
            Err(Error::Misuse(Misuse::JoinedTwice { table: "users" }))
        ));
    }
}
