//! ER diagrams drawn from the models' metadata.

use orm::prelude::*;

#[derive(Model, Debug)]
#[orm(table = "users")]
pub struct User {
    #[orm(primary_key)]
    pub id: i64,
    #[orm(unique)]
    pub email: String,
    pub nickname: Option<String>,
    #[orm(back_populates = "user")]
    pub orders: HasMany<Order>,
    #[orm(back_populates = "user")]
    pub profile: HasOne<Profile>,
}

#[derive(Model, Debug)]
#[orm(table = "profiles")]
pub struct Profile {
    #[orm(primary_key)]
    pub id: i64,
    #[orm(back_populates = "profile", unique)]
    pub user: BelongsTo<User>,
}

#[derive(Model, Debug)]
#[orm(table = "orders")]
pub struct Order {
    #[orm(primary_key)]
    pub id: i64,
    #[orm(back_populates = "orders", optional, on_delete = "set null")]
    pub user: BelongsTo<User>,
    #[orm(through = "order_tags", back_populates = "orders")]
    pub tags: ManyToMany<Tag>,
}

#[derive(Model, Debug)]
#[orm(table = "tags")]
pub struct Tag {
    #[orm(primary_key)]
    pub id: i64,
    pub label: String,
    #[orm(through = "order_tags", back_populates = "tags")]
    pub orders: ManyToMany<Order>,
}

type Shop = (Order, Tag, User, Profile);

#[test]
fn mermaid_lists_tables_columns_keys_and_cardinalities() {
    assert_eq!(
        orm::diagram::mermaid::<Shop>(),
        r#"erDiagram
    users {
        INTEGER id PK
        TEXT email UK
        TEXT nickname "nullable"
    }
    orders {
        INTEGER id PK
        INTEGER user_id FK "nullable"
    }
    tags {
        INTEGER id PK
        TEXT label
    }
    profiles {
        INTEGER id PK
        INTEGER user_id FK, UK
    }
    users |o--o{ orders : "user"
    users ||--o| profiles : "user"
    orders }o--o{ tags : "order_tags"
"#
    );
}

#[test]
fn dot_draws_a_record_per_table_and_an_edge_per_key() {
    assert_eq!(
        orm::diagram::dot::<Shop>(),
        r#"digraph schema {
    rankdir=LR;
    node [shape=record];
    "users" [label="{users|id INTEGER PK\lemail TEXT UK\lnickname TEXT NULL\l}"];
    "orders" [label="{orders|id INTEGER PK\luser_id INTEGER FK NULL\l}"];
    "tags" [label="{tags|id INTEGER PK\llabel TEXT\l}"];
    "profiles" [label="{profiles|id INTEGER PK\luser_id INTEGER FK, UK\l}"];
    "orders" -> "users" [label="user (many-to-one, optional)"];
    "profiles" -> "users" [label="user (one-to-one)"];
    "orders" -> "tags" [dir=both, style=dashed, label="order_tags"];
}
"#
    );
}
