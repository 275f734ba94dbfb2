//! One field as the derive sees it: its kind (decided by its type), the
//! settings that kind takes, one struct per kind, and the settings given
//! that the kind does not take, kept so that `validate` can report them.
//! Every setting keeps its tokens, for the spans of later errors.

use proc_macro2::Span;
use syn::{Ident, LitStr, Type};

use crate::symbol::*;

/// One named field.
pub struct Field {
    pub ident: Ident,
    pub ty: Type,
    pub kind: FieldKind,
    /// Settings given that this kind of field does not take, in the order
    /// given.
    pub misplaced: Vec<Misplaced>,
}

/// What a field maps to, decided from its type, with the settings it takes.
pub enum FieldKind {
    /// A column of its own.
    Column(ColumnAttrs),
    /// `BelongsTo<T>`: a foreign-key column and a relationship.
    BelongsTo(BelongsToAttrs),
    /// `HasMany<T>`: a relationship, no column.
    HasMany(ChildrenAttrs),
    /// `HasOne<T>`: a relationship, no column.
    HasOne(ChildrenAttrs),
    /// `ManyToMany<T>`: a relationship through a link table, no column.
    ManyToMany(LinkAttrs),
}

/// The settings of a plain column.
#[derive(Default)]
pub struct ColumnAttrs {
    pub primary_key: Option<Span>,
    pub column: Option<LitStr>,
    pub unique: Option<Span>,
    pub index: Option<Span>,
    pub default: Option<LitStr>,
    pub skip: Option<Span>,
    pub sql_type: Option<LitStr>,
    pub version: Option<Span>,
}

/// What every relationship kind takes.
pub struct RelationAttrs {
    /// The model at the other end: the `T` of `BelongsTo<T>` and the others.
    pub target: Type,
    pub back_populates: Option<LitStr>,
    pub lazy_raise: Option<Span>,
}

/// The settings of a `BelongsTo<T>`: its relationship and its foreign-key
/// column (whose type is the parent's key, so no `sql_type` or `default`).
pub struct BelongsToAttrs {
    pub relation: RelationAttrs,
    pub column: Option<LitStr>,
    pub unique: Option<Span>,
    pub index: Option<Span>,
    pub on_delete: Option<(LitStr, OnDelete)>,
    pub optional: Option<Span>,
}

/// The settings of a `HasMany<T>` or `HasOne<T>` (which takes no
/// `order_by`: it holds one child).
pub struct ChildrenAttrs {
    pub relation: RelationAttrs,
    pub delete_orphan: Option<Span>,
    pub order_by: Option<OrderBy>,
}

/// The settings of a `ManyToMany<T>`.
pub struct LinkAttrs {
    pub relation: RelationAttrs,
    pub through: Option<LitStr>,
    pub order_by: Option<OrderBy>,
}

/// An `order_by = "placed_on desc, id"`: the literal and its terms, each a
/// field or column name of the collected model and whether it descends.
#[derive(Clone)]
pub struct OrderBy {
    pub lit: LitStr,
    pub terms: Vec<(String, bool)>,
}

/// The `on_delete` actions.
#[derive(Clone, Copy)]
pub enum OnDelete {
    Cascade,
    SetNull,
    Restrict,
    NoAction,
}

/// A field setting's value, read in the shape its key takes.
pub enum Value {
    /// A flag, at its key.
    Flag(Span),
    /// A string.
    Text(LitStr),
    /// An `on_delete` action.
    OnDelete(LitStr, OnDelete),
    /// A `lazy` strategy: where `"raise"` was written, `None` for `"select"`.
    Lazy(Option<Span>),
    /// An `order_by` list.
    OrderBy(OrderBy),
}

/// A setting given on a kind of field that does not take it. Its value is
/// read all the same, so a malformed one is reported as anywhere else, and
/// kept: some rules look at it on any field (a `skip`ped relationship, a
/// primary key on a `BelongsTo`).
pub struct Misplaced {
    pub key: &'static str,
    /// Where the key was written.
    pub span: Span,
    /// `None` when the value was malformed (and reported).
    pub value: Option<Value>,
}

impl Field {
    /// The `T` of a `Defaulted<T>` field, whose column the database fills
    /// on insert when it is unset. Known by the type's last path segment,
    /// as relationships are, so that `orm::Defaulted<T>` works too (and a
    /// type of another crate named `Defaulted` is taken for orm's).
    pub fn defaulted(&self) -> Option<Type> {
        match crate::parse::generic_of(&self.ty) {
            Some((name, inner)) if name == "Defaulted" => Some(inner),
            _ => None,
        }
    }

    /// The setting `key`, if it was given on a kind that does not take it.
    pub fn misplaced(&self, key: &str) -> Option<&Misplaced> {
        self.misplaced.iter().find(|m| m.key == key)
    }

    /// A misplaced flag's span, if it was read.
    pub fn misplaced_flag(&self, key: &str) -> Option<Span> {
        match self.misplaced(key)?.value {
            Some(Value::Flag(span)) => Some(span),
            _ => None,
        }
    }

    /// A misplaced string setting, if it was read.
    pub fn misplaced_text(&self, key: &str) -> Option<&LitStr> {
        match &self.misplaced(key)?.value {
            Some(Value::Text(lit)) => Some(lit),
            _ => None,
        }
    }
}

impl FieldKind {
    /// The kind a type maps to, with no settings yet. Relationships are
    /// known by their last path segment, so that `orm::BelongsTo<T>` works
    /// too.
    pub fn of(ty: &Type) -> FieldKind {
        let Some((name, target)) = crate::parse::generic_of(ty) else {
            return FieldKind::Column(ColumnAttrs::default());
        };
        let relation = RelationAttrs {
            target,
            back_populates: None,
            lazy_raise: None,
        };
        match name.as_str() {
            "BelongsTo" => FieldKind::BelongsTo(BelongsToAttrs {
                relation,
                column: None,
                unique: None,
                index: None,
                on_delete: None,
                optional: None,
            }),
            "HasMany" | "HasOne" => {
                let children = ChildrenAttrs {
                    relation,
                    delete_orphan: None,
                    order_by: None,
                };
                if name == "HasMany" {
                    FieldKind::HasMany(children)
                } else {
                    FieldKind::HasOne(children)
                }
            }
            "ManyToMany" => FieldKind::ManyToMany(LinkAttrs {
                relation,
                through: None,
                order_by: None,
            }),
            _ => FieldKind::Column(ColumnAttrs::default()),
        }
    }

    /// What the relationship kinds share, `None` for a column.
    pub fn relation(&self) -> Option<&RelationAttrs> {
        match self {
            FieldKind::Column(_) => None,
            FieldKind::BelongsTo(b) => Some(&b.relation),
            FieldKind::HasMany(c) | FieldKind::HasOne(c) => Some(&c.relation),
            FieldKind::ManyToMany(l) => Some(&l.relation),
        }
    }

    /// Stores the setting `key` if this kind takes it; hands the value back
    /// if not. A malformed value (`None`) is stored as not given.
    pub fn set(&mut self, key: &'static str, value: Option<Value>) -> Result<(), Option<Value>> {
        match self {
            FieldKind::Column(c) => c.set(key, value),
            FieldKind::BelongsTo(b) => b.set(key, value),
            // One child has no order.
            FieldKind::HasOne(_) if key == ORDER_BY => Err(value),
            FieldKind::HasMany(c) | FieldKind::HasOne(c) => c.set(key, value),
            FieldKind::ManyToMany(l) => l.set(key, value),
        }
    }
}

impl ColumnAttrs {
    fn set(&mut self, key: &str, value: Option<Value>) -> Result<(), Option<Value>> {
        match key {
            PRIMARY_KEY => self.primary_key = flag(value),
            COLUMN => self.column = text(value),
            UNIQUE => self.unique = flag(value),
            INDEX => self.index = flag(value),
            DEFAULT => self.default = text(value),
            SKIP => self.skip = flag(value),
            SQL_TYPE => self.sql_type = text(value),
            VERSION => self.version = flag(value),
            _ => return Err(value),
        }
        Ok(())
    }
}

impl RelationAttrs {
    fn set(&mut self, key: &str, value: Option<Value>) -> Result<(), Option<Value>> {
        match (key, value) {
            (BACK_POPULATES, value) => self.back_populates = text(value),
            (LAZY, Some(Value::Lazy(raise))) => self.lazy_raise = raise,
            (LAZY, _) => {}
            (_, value) => return Err(value),
        }
        Ok(())
    }
}

impl BelongsToAttrs {
    fn set(&mut self, key: &str, value: Option<Value>) -> Result<(), Option<Value>> {
        match (key, value) {
            (COLUMN, value) => self.column = text(value),
            (UNIQUE, value) => self.unique = flag(value),
            (INDEX, value) => self.index = flag(value),
            (OPTIONAL, value) => self.optional = flag(value),
            (ON_DELETE, Some(Value::OnDelete(lit, action))) => self.on_delete = Some((lit, action)),
            (ON_DELETE, _) => {}
            (_, value) => return self.relation.set(key, value),
        }
        Ok(())
    }
}

impl ChildrenAttrs {
    fn set(&mut self, key: &str, value: Option<Value>) -> Result<(), Option<Value>> {
        match key {
            DELETE_ORPHAN => self.delete_orphan = flag(value),
            ORDER_BY => self.order_by = order_by(value),
            _ => return self.relation.set(key, value),
        }
        Ok(())
    }
}

impl LinkAttrs {
    fn set(&mut self, key: &str, value: Option<Value>) -> Result<(), Option<Value>> {
        match key {
            THROUGH => self.through = text(value),
            ORDER_BY => self.order_by = order_by(value),
            _ => return self.relation.set(key, value),
        }
        Ok(())
    }
}

fn flag(value: Option<Value>) -> Option<Span> {
    match value {
        Some(Value::Flag(span)) => Some(span),
        _ => None,
    }
}

fn order_by(value: Option<Value>) -> Option<OrderBy> {
    match value {
        Some(Value::OrderBy(order)) => Some(order),
        _ => None,
    }
}

fn text(value: Option<Value>) -> Option<LitStr> {
    match value {
        Some(Value::Text(lit)) => Some(lit),
        _ => None,
    }
}
