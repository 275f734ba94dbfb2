//! Preload and lazy loads agree for every kind of primary key: integers,
//! text (quotes, unicode, NUL) and bytes (16-byte UUIDs). A preload binds
//! all keys as one parameter; a lazy load binds one with `= ?`; both must
//! find the same rows (design points 4 and 8).
//!
//! The same three models are declared once per key type; each database is
//! seeded with raw SQL whose values are bound, so the keys go in exactly as
//! given, and the statements each way costs are counted with a recorder.
//!
//! Every test runs on each backend of the matrix (see `common::backend`).
//! On PostgreSQL a preload binds the keys as one array literal (`= ANY(?)`)
//! instead of SQLite's JSON array; PostgreSQL text cannot hold NUL, so
//! there the text key with a NUL is replaced by `NULL`, the element an
//! array literal reads as SQL NULL unless it is quoted.

use crate::common;

use common::backend::is_postgres;

/// Parents with children (`HasMany` / `BelongsTo`) and tags (`ManyToMany`),
/// keyed by `$key`, and the tests over them. `$keys` gives four distinct
/// keys (`$postgres_keys` on PostgreSQL, where they differ): parent 0 has
/// children 1 and 2 and tags 0 and 1, parent 1 has child 3 and tag 1,
/// parent 2 has child 4 and no tag, parent 3 nothing.
macro_rules! agreement_for_keys {
    ($module:ident, $key:ty, $keys:expr) => {
        agreement_for_keys!($module, $key, $keys, $keys);
    };
    ($module:ident, $key:ty, $keys:expr, $postgres_keys:expr) => {
        mod $module {
            use std::collections::BTreeMap;

            use orm::prelude::*;

            use super::is_postgres;

            type Key = $key;

            #[derive(Model, Debug)]
            #[orm(table = "parents")]
            pub struct Parent {
                #[orm(primary_key)]
                pub id: $key,
                pub name: String,
                #[orm(back_populates = "parent")]
                pub children: HasMany<Child>,
                #[orm(through = "parent_tags", back_populates = "parents")]
                pub tags: ManyToMany<Tag>,
            }

            #[derive(Model, Debug)]
            #[orm(table = "children")]
            pub struct Child {
                #[orm(primary_key)]
                pub id: i64,
                pub name: String,
                #[orm(back_populates = "children")]
                pub parent: BelongsTo<Parent>,
            }

            #[derive(Model, Debug)]
            #[orm(table = "tags")]
            pub struct Tag {
                #[orm(primary_key)]
                pub id: $key,
                pub label: String,
                #[orm(through = "parent_tags", back_populates = "tags")]
                pub parents: ManyToMany<Parent>,
            }

            fn keys(db: &Database) -> Vec<Key> {
                if is_postgres(db) {
                    $postgres_keys
                } else {
                    $keys
                }
            }

            /// Creates the tables in `db` and fills them as the macro's docs
            /// say; children get the keys 1 to 4 from the database.
            fn seed(db: &Database) -> orm::Result<()> {
                db.create_all::<(Parent, Child, Tag)>()?;
                let session = db.session();
                let k = keys(db);
                for (i, key) in k.iter().enumerate() {
                    session.execute(
                        "INSERT INTO parents (id, name) VALUES ($1, $2)",
                        &[key, &format!("parent {i}")],
                    )?;
                    session.execute(
                        "INSERT INTO tags (id, label) VALUES ($1, $2)",
                        &[key, &format!("tag {i}")],
                    )?;
                }
                for (id, parent) in [(1, 0), (2, 0), (3, 1), (4, 2)] {
                    session.execute(
                        "INSERT INTO children (name, parent_id) VALUES ($1, $2)",
                        &[&format!("child {id}"), &k[parent]],
                    )?;
                }
                for (parent, tag) in [(0, 0), (0, 1), (1, 1)] {
                    session.execute(
                        "INSERT INTO parent_tags (parent_id, tag_id) VALUES ($1, $2)",
                        &[&k[parent], &k[tag]],
                    )?;
                }
                session.commit()?;
                // The children's keys are the ones the tests expect.
                let ids: Vec<(i64, String)> = db
                    .session()
                    .sql_values("SELECT id, name FROM children ORDER BY id", &[])?;
                let names: Vec<(i64, String)> =
                    (1..=4).map(|id| (id, format!("child {id}"))).collect();
                assert_eq!(ids, names);
                Ok(())
            }

            fn sorted<T: Ord>(mut items: Vec<T>) -> Vec<T> {
                items.sort();
                items
            }

            /// Each parent's child ids, as the seed wrote them.
            fn children_expected(db: &Database) -> BTreeMap<Key, Vec<i64>> {
                let k = keys(db);
                BTreeMap::from([
                    (k[0].clone(), vec![1, 2]),
                    (k[1].clone(), vec![3]),
                    (k[2].clone(), vec![4]),
                    (k[3].clone(), vec![]),
                ])
            }

            fn children_of(parents: &[Handle<Parent>]) -> orm::Result<BTreeMap<Key, Vec<i64>>> {
                let mut found = BTreeMap::new();
                for parent in parents {
                    let children = parent.read()?.children.load()?;
                    let ids = children
                        .iter()
                        .map(|c| c.key())
                        .collect::<orm::Result<Vec<i64>>>()?;
                    found.insert(parent.key()?, sorted(ids));
                }
                Ok(found)
            }

            backend_tests! {
                fn preload_of_children_equals_lazy_loads_in_two_statements(db) -> orm::Result<()> {
                    seed(&db)?;
                    let recorder = db.recorder();

                    let session = db.session();
                    let parents = session.query::<Parent>().preload(Parent::CHILDREN).all()?;
                    assert_eq!(recorder.count(), 2, "{:?}", recorder.sql());
                    assert!(
                        parents
                            .iter()
                            .all(|p| p.read().is_ok_and(|p| p.children.is_loaded()))
                    );
                    let preloaded = children_of(&parents)?;
                    assert_eq!(
                        recorder.count(),
                        2,
                        "reading preloaded children costs nothing"
                    );
                    drop(session);

                    recorder.clear();
                    let session = db.session();
                    let parents = session.query::<Parent>().all()?;
                    let lazy = children_of(&parents)?;
                    assert_eq!(recorder.count(), 1 + 4, "one query, one SELECT per parent");

                    assert_eq!(lazy, children_expected(&db));
                    assert_eq!(preloaded, lazy);
                    Ok(())
                }

                fn preload_of_parents_equals_lazy_loads_in_two_statements(db) -> orm::Result<()> {
                    seed(&db)?;
                    let k = keys(&db);
                    let expected = BTreeMap::from([
                        (1, k[0].clone()),
                        (2, k[0].clone()),
                        (3, k[1].clone()),
                        (4, k[2].clone()),
                    ]);
                    let parents_of = |children: &[Handle<Child>]| -> orm::Result<BTreeMap<i64, Key>> {
                        let mut found = BTreeMap::new();
                        for child in children {
                            found.insert(child.key()?, child.read()?.parent.load()?.key()?);
                        }
                        Ok(found)
                    };
                    let recorder = db.recorder();

                    let session = db.session();
                    let children = session.query::<Child>().preload(Child::PARENT).all()?;
                    assert_eq!(recorder.count(), 2, "{:?}", recorder.sql());
                    let preloaded = parents_of(&children)?;
                    assert_eq!(
                        recorder.count(),
                        2,
                        "reading preloaded parents costs nothing"
                    );
                    drop(session);

                    recorder.clear();
                    let session = db.session();
                    let children = session.query::<Child>().all()?;
                    let lazy = parents_of(&children)?;
                    assert_eq!(
                        recorder.count(),
                        1 + 3,
                        "one query, one SELECT per distinct parent: {:?}",
                        recorder.sql()
                    );

                    assert_eq!(lazy, expected);
                    assert_eq!(preloaded, lazy);
                    Ok(())
                }

                fn preload_of_many_to_many_equals_lazy_loads_in_two_statements(db) -> orm::Result<()> {
                    seed(&db)?;
                    let k = keys(&db);
                    let expected = BTreeMap::from([
                        (k[0].clone(), sorted(vec![k[0].clone(), k[1].clone()])),
                        (k[1].clone(), vec![k[1].clone()]),
                        (k[2].clone(), vec![]),
                        (k[3].clone(), vec![]),
                    ]);
                    let tags_of = |parents: &[Handle<Parent>]| -> orm::Result<BTreeMap<Key, Vec<Key>>> {
                        let mut found = BTreeMap::new();
                        for parent in parents {
                            let tags = parent.read()?.tags.load()?;
                            let keys = tags
                                .iter()
                                .map(|t| t.key())
                                .collect::<orm::Result<Vec<Key>>>()?;
                            found.insert(parent.key()?, sorted(keys));
                        }
                        Ok(found)
                    };
                    let recorder = db.recorder();

                    let session = db.session();
                    let parents = session.query::<Parent>().preload(Parent::TAGS).all()?;
                    assert_eq!(recorder.count(), 2, "{:?}", recorder.sql());
                    let preloaded = tags_of(&parents)?;
                    assert_eq!(recorder.count(), 2, "reading preloaded tags costs nothing");
                    drop(session);

                    recorder.clear();
                    let session = db.session();
                    let parents = session.query::<Parent>().all()?;
                    let lazy = tags_of(&parents)?;
                    assert_eq!(recorder.count(), 1 + 4, "one query, one SELECT per parent");

                    assert_eq!(lazy, expected);
                    assert_eq!(preloaded, lazy);
                    Ok(())
                }
            }
        }
    };
}

agreement_for_keys!(
    integer_keys,
    i64,
    vec![1, 2, -9_000_000_000_000_000, i64::MAX]
);

agreement_for_keys!(
    text_keys,
    String,
    vec![
        "it's \"quoted\"; --".to_owned(),
        "日本語 🦀 \\ back\tslash".to_owned(),
        "nul\0inside".to_owned(),
        "42".to_owned(),
    ],
    vec![
        "it's \"quoted\"; --".to_owned(),
        "日本語 🦀 \\ back\tslash".to_owned(),
        "NULL".to_owned(),
        "42".to_owned(),
    ]
);

agreement_for_keys!(
    blob_keys,
    Vec<u8>,
    vec![
        // 16-byte UUIDs, one with NUL bytes, one of bytes that are not UTF-8,
        // one that reads as text.
        vec![
            0x67, 0xe5, 0x50, 0x44, 0x10, 0xb1, 0x42, 0x6f, 0x92, 0x47, 0xbb, 0x68, 0x0e, 0x5f,
            0xe0, 0xc8
        ],
        vec![0; 16],
        vec![0xff; 16],
        b"sixteen byte key".to_vec(),
    ]
);
