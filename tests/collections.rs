//! Collections as SQLAlchemy users expect them: loaded in the order the
//! relationship declares (`order_by`), lazily and by `preload`; members
//! added or removed before the load kept that way by the load; new rows
//! whose foreign key was given as a plain key inserted after their parent;
//! and a `BelongsTo` with no key already "loaded".
//!
//! Every test runs on each backend of the matrix (see `common::backend`).

use crate::common;

use common::statements;
use orm::prelude::*;

#[derive(Model, Debug)]
#[orm(table = "authors")]
pub struct Author {
    #[orm(primary_key)]
    pub id: i64,
    pub name: String,
    #[orm(back_populates = "author", order_by = "year desc, title")]
    pub books: HasMany<Book>,
    #[orm(
        through = "author_tags",
        back_populates = "authors",
        order_by = "label"
    )]
    pub tags: ManyToMany<Tag>,
}

#[derive(Model, Debug)]
#[orm(table = "books")]
pub struct Book {
    #[orm(primary_key)]
    pub id: i64,
    pub title: String,
    pub year: i64,
    #[orm(back_populates = "books", optional)]
    pub author: BelongsTo<Author>,
}

#[derive(Model, Debug)]
#[orm(table = "tags")]
pub struct Tag {
    #[orm(primary_key)]
    pub id: i64,
    pub label: String,
    #[orm(
        through = "author_tags",
        back_populates = "tags",
        order_by = "name desc"
    )]
    pub authors: ManyToMany<Author>,
}

type All = (Author, Book, Tag);

/// Rows of two integer columns, such as `SELECT id, author_id FROM books`,
/// as a session of their own reads them: what the database holds, as
/// committed.
fn pairs(db: &Database, sql: &str) -> Vec<(i64, Option<i64>)> {
    db.session()
        .sql_values(sql, &[])
        .expect("the test query runs")
}

/// Two authors; books inserted out of order; tags inserted out of order.
/// Keys are left to the database, which numbers a new table's rows from 1:
/// authors 1 Ann, 2 Bob; books 1 B, 2 A, 3 C (Ann's), 4 D, 5 E (Bob's);
/// tags 1 zebra, 2 apple, 3 mango (all Ann's; mango Bob's too).
fn seeded(db: &Database) -> orm::Result<()> {
    db.create_all::<All>()?;
    db.execute_batch(
        "INSERT INTO authors (name) VALUES ('Ann'), ('Bob');
         INSERT INTO books (title, year, author_id) VALUES
             ('B', 2001, 1), ('A', 2001, 1), ('C', 2010, 1), ('D', 1999, 2), ('E', 2020, 2);
         INSERT INTO tags (label) VALUES ('zebra'), ('apple'), ('mango');
         INSERT INTO author_tags (author_id, tag_id) VALUES (1, 1), (1, 2), (1, 3), (2, 3);",
    )?;
    assert_eq!(
        pairs(db, "SELECT id, author_id FROM books ORDER BY id"),
        [
            (1, Some(1)),
            (2, Some(1)),
            (3, Some(1)),
            (4, Some(2)),
            (5, Some(2))
        ],
        "the keys the tests expect"
    );
    Ok(())
}

fn titles(books: &[Handle<Book>]) -> orm::Result<Vec<String>> {
    books.iter().map(|b| Ok(b.read()?.title.clone())).collect()
}

fn names(authors: &[Handle<Author>]) -> orm::Result<Vec<String>> {
    authors.iter().map(|a| Ok(a.read()?.name.clone())).collect()
}

fn labels(tags: &[Handle<Tag>]) -> orm::Result<Vec<String>> {
    tags.iter().map(|t| Ok(t.read()?.label.clone())).collect()
}

backend_tests! {
    fn a_lazy_load_returns_the_declared_order(db) -> orm::Result<()> {
        seeded(&db)?;
        let session = db.session();
        let ann = session.get::<Author>(1)?;
        let recorder = db.recorder();
        let books = ann.read()?.books.load()?;
        assert_eq!(titles(&books)?, ["C", "A", "B"], "year desc, then title");
        let tags = ann.read()?.tags.load()?;
        assert_eq!(labels(&tags)?, ["apple", "mango", "zebra"]);
        assert_eq!(recorder.count(), 2);
        // PostgreSQL is told to put NULLs where SQLite does.
        let order = if db.backend() == orm::Backend::Postgres {
            r#"ORDER BY "year" DESC NULLS LAST, "title" ASC NULLS FIRST"#
        } else {
            r#"ORDER BY "year" DESC, "title""#
        };
        assert!(recorder.sql()[0].ends_with(order), "{:?}", recorder.sql());
        Ok(())
    }

    fn a_preload_returns_the_declared_order_for_every_parent(db) -> orm::Result<()> {
        seeded(&db)?;
        let session = db.session();
        let recorder = db.recorder();
        let authors = session
            .query::<Author>()
            .order_by(Author::ID.asc())
            .preload(Author::BOOKS)
            .preload(Author::TAGS)
            .all()?;
        assert_eq!(recorder.count(), 3);
        assert_eq!(titles(&authors[0].read()?.books.load()?)?, ["C", "A", "B"]);
        assert_eq!(titles(&authors[1].read()?.books.load()?)?, ["E", "D"]);
        assert_eq!(
            labels(&authors[0].read()?.tags.load()?)?,
            ["apple", "mango", "zebra"]
        );
        // The other side orders by its own declaration.
        let mango = session.get::<Tag>(3)?;
        assert_eq!(names(&mango.read()?.authors.load()?)?, ["Bob", "Ann"]);
        assert_eq!(recorder.count(), 4, "no SQL for the loaded collections");
        Ok(())
    }

    fn a_preload_gives_each_parent_its_children_in_any_order_of_rows(db) -> orm::Result<()> {
        seeded(&db)?;
        db.execute_batch("INSERT INTO authors (name) VALUES ('Cid');")?;
        let session = db.session();
        let recorder = db.recorder();
        // Cid (no books), Bob, Ann: the books come by year across
        // authors (E Bob's, C A B Ann's, D Bob's), not author by author.
        let authors = session
            .query::<Author>()
            .order_by(Author::ID.desc())
            .preload(Author::BOOKS)
            .all()?;
        assert_eq!(recorder.count(), 2);
        assert_eq!(names(&authors)?, ["Cid", "Bob", "Ann"]);
        let books: Vec<Vec<Handle<Book>>> = authors
            .iter()
            .map(|a| a.read()?.books.load())
            .collect::<orm::Result<_>>()?;
        assert_eq!(titles(&books[0])?, Vec::<String>::new());
        assert_eq!(titles(&books[1])?, ["E", "D"]);
        assert_eq!(titles(&books[2])?, ["C", "A", "B"]);
        for (author, books) in authors.iter().zip(&books) {
            for book in books {
                assert_eq!(&book.read()?.author.load()?, author);
            }
        }
        assert_eq!(recorder.count(), 2, "no SQL for the loaded sides");
        Ok(())
    }

    fn members_added_before_the_load_survive_it_with_autoflush_off(db) -> orm::Result<()> {
        seeded(&db)?;
        let session = db.session();
        session.set_autoflush(false);
        let ann = session.get::<Author>(1)?;
        let bob_book = session.get::<Book>(4)?;
        let new_book = session.add(Book::new("New".to_owned(), 2030));
        ann.read()?.books.push(&new_book)?;
        ann.read()?.books.push(&bob_book)?;
        let apple = session.get::<Tag>(2)?;
        ann.read()?.tags.remove(&apple)?;
        let recorder = db.recorder();
        let books = ann.read()?.books.load()?;
        // What the rows say, in order, then the additions not yet flushed.
        assert_eq!(titles(&books)?, ["C", "A", "B", "New", "D"]);
        assert_eq!(
            labels(&ann.read()?.tags.load()?)?,
            ["mango", "zebra"],
            "apple stays removed"
        );
        assert_eq!(recorder.count(), 2, "one SELECT each, no flush");
        assert!(books.contains(&new_book));

        // Flushed and reloaded, the database agrees.
        session.commit()?;
        let again = db.session();
        let ann = again.get::<Author>(1)?;
        assert_eq!(
            titles(&ann.read()?.books.load()?)?,
            ["New", "C", "A", "B", "D"]
        );
        assert_eq!(labels(&ann.read()?.tags.load()?)?, ["mango", "zebra"]);
        Ok(())
    }

    fn a_long_collection_keeps_each_member_once_in_the_order_they_joined(db) -> orm::Result<()> {
        // Forty members: past the length from which a collection finds a
        // member by its address instead of a scan; the rules stay the same.
        db.create_all::<All>()?;
        let session = db.session();
        let ann = session.add(Author::new("Ann".to_owned()));
        let books: Vec<Handle<Book>> = (0..40)
            .map(|i| session.add(Book::new(format!("{i:02}"), 2000)))
            .collect();
        for book in books.iter().rev() {
            book.read()?.author.set(&ann)?;
            ann.read()?.books.push(book)?; // already a member: no change
        }
        ann.read()?.books.remove(&books[7])?;
        ann.read()?.books.remove(&books[7])?; // no longer a member: no change
        ann.read()?.books.push(&books[7])?; // joins again, at the end
        let expected: Vec<String> = (0..40)
            .rev()
            .filter(|&i| i != 7)
            .chain([7])
            .map(|i| format!("{i:02}"))
            .collect();
        assert_eq!(titles(&ann.read()?.books.load()?)?, expected);

        // Most taken out again: the rest keep their order.
        for book in books.iter().filter(|b| b.read().is_ok_and(|b| b.title.as_str() < "30")) {
            ann.read()?.books.remove(book)?;
        }
        let expected: Vec<String> = (30..40).rev().map(|i| format!("{i:02}")).collect();
        assert_eq!(titles(&ann.read()?.books.load()?)?, expected);
        // Three more out: short enough again to be scanned.
        for book in &books[37..] {
            ann.read()?.books.remove(book)?;
        }
        let expected: Vec<String> = (30..37).rev().map(|i| format!("{i:02}")).collect();
        assert_eq!(titles(&ann.read()?.books.load()?)?, expected);
        ann.read()?.books.push(&books[0])?;
        assert_eq!(ann.read()?.books.load()?.last(), Some(&books[0]));

        session.commit()?;
        assert_eq!(
            pairs(&db, "SELECT count(*), count(author_id) FROM books"),
            [(40, Some(8))],
            "the books taken out have no author"
        );
        Ok(())
    }

    fn a_long_collection_loaded_after_changes_keeps_them_once(db) -> orm::Result<()> {
        seeded(&db)?;
        let old: Vec<String> = (1..=20).map(|i| format!("('old {i}', 1990, 1)")).collect();
        db.execute_batch(&format!(
            "INSERT INTO books (title, year, author_id) VALUES {};",
            old.join(", ")
        ))?;
        let session = db.session();
        session.set_autoflush(false);
        let ann = session.get::<Author>(1)?;
        let a = session.get::<Book>(2)?;
        let c = session.get::<Book>(3)?;
        let new_book = session.add(Book::new("New".to_owned(), 2030));
        ann.read()?.books.push(&new_book)?;
        ann.read()?.books.push(&a)?; // a member already: once after the load
        ann.read()?.books.remove(&c)?;
        let books = ann.read()?.books.load()?;
        assert_eq!(books.len(), 23 - 1 + 1, "22 rows kept, one added");
        assert_eq!(books.iter().filter(|b| **b == a).count(), 1);
        assert!(!books.contains(&c));
        assert_eq!(books.last(), Some(&new_book));
        ann.read()?.books.push(&new_book)?; // still a member: no change
        assert_eq!(ann.read()?.books.load()?.len(), 23);
        Ok(())
    }

    fn members_added_before_a_preload_survive_it(db) -> orm::Result<()> {
        seeded(&db)?;
        let session = db.session();
        session.set_autoflush(false);
        let ann = session.get::<Author>(1)?;
        let zebra = session.get::<Tag>(1)?;
        let bob = session.get::<Author>(2)?;
        bob.read()?.tags.add(&zebra)?;
        let authors = session.query::<Author>().preload(Author::TAGS).all()?;
        assert_eq!(authors.len(), 2);
        assert_eq!(labels(&bob.read()?.tags.load()?)?, ["mango", "zebra"]);
        assert_eq!(
            labels(&ann.read()?.tags.load()?)?,
            ["apple", "mango", "zebra"]
        );
        Ok(())
    }

    fn a_child_given_its_parent_by_key_is_inserted_after_the_new_parent(db) -> orm::Result<()> {
        db.create_all::<All>()?;
        let session = db.session();
        // The child first, by key; the parent, with that key, second.
        session.add(Book {
            id: 0,
            title: "Early".into(),
            year: 1990,
            author: BelongsTo::with_key(7),
        });
        session.add(Author {
            id: 7,
            name: "Cy".into(),
            books: HasMany::new(),
            tags: ManyToMany::new(),
        });
        let recorder = db.recorder();
        session.commit()?;
        assert_eq!(statements(&recorder), ["INSERT authors", "INSERT books"]);
        assert_eq!(pairs(&db, "SELECT id, author_id FROM books"), [(1, Some(7))]);

        // set_key on a loaded object: tracked, written by the next flush, and
        // the old parent's loaded collection lets go of it.
        let cy = session.get::<Author>(7)?;
        let book = session.get::<Book>(1)?;
        assert_eq!(cy.read()?.books.load()?.len(), 1);
        book.read()?.author.set_key(Some(9))?;
        assert!(cy.read()?.books.load()?.is_empty());
        assert_eq!(book.read()?.author.key(), Some(9));
        session.add(Author {
            id: 9,
            name: "Eve".into(),
            books: HasMany::new(),
            tags: ManyToMany::new(),
        });
        session.commit()?;
        assert_eq!(pairs(&db, "SELECT id, author_id FROM books"), [(1, Some(9))]);
        Ok(())
    }

    fn set_key_to_a_parent_in_the_session_is_set(db) -> orm::Result<()> {
        seeded(&db)?;
        let session = db.session();
        let bob = session.get::<Author>(2)?;
        let bobs = bob.read()?.books.load()?;
        let book = session.get::<Book>(1)?;
        book.read()?.author.set_key(Some(2))?;
        assert_eq!(
            book.read()?.author.load()?,
            bob,
            "the object, not only the key"
        );
        assert_eq!(bob.read()?.books.load()?.len(), bobs.len() + 1);
        Ok(())
    }

    fn a_belongs_to_without_a_key_is_loaded(db) -> orm::Result<()> {
        seeded(&db)?;
        db.execute_batch("INSERT INTO books (title, year, author_id) VALUES ('Anonymous', 1900, NULL)")?;
        let session = db.session();
        let anonymous = session.get::<Book>(6)?;
        let known = session.get::<Book>(4)?;
        let recorder = db.recorder();
        assert!(anonymous.read()?.author.is_loaded());
        assert_eq!(anonymous.read()?.author.load_optional()?, None);
        assert!(
            !known.read()?.author.is_loaded(),
            "author 2 is not in the session"
        );
        assert_eq!(recorder.count(), 0);
        Ok(())
    }
}
