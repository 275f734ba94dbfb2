use orm::prelude::*;

#[derive(Model, Debug)]
#[orm(table = "users")]
pub struct User {
    #[orm(primary_key)]
    pub id: i64,
    pub name: String,
    #[orm(unique)]
    pub email: String,
    pub nickname: Option<String>,
    #[orm(back_populates = "user")]
    pub orders: HasMany<Order>,
}

#[derive(Model, Debug)]
#[orm(table = "orders")]
pub struct Order {
    #[orm(primary_key)]
    pub id: i64,
    pub total_cents: i64,
    #[orm(back_populates = "orders")]
    pub user: BelongsTo<User>,
}

#[test]
fn smoke() -> orm::Result<()> {
    let db = Database::in_memory()?;
    db.set_echo(true);
    println!("{}", User::ddl());
    println!("{}", Order::ddl());
    db.create_all::<(User, Order)>()?;
    let session = db.session();
    let alice = session.add(User::new("Alice", "alice@example.com"));
    let order = session.add(Order::new(1299));
    order.read()?.user.set(&alice)?;
    session.commit()?;
    let o = session.get::<Order>(1)?;
    assert_eq!(o, order);
    let u = o.read()?.user.load()?;
    assert_eq!(u, alice);
    let orders = u.read()?.orders.load()?;
    assert_eq!(orders, vec![order.clone()]);
    let rich = session
        .query::<User>()
        .filter(User::EMAIL.like("%@example.com"))
        .preload(User::ORDERS)
        .all()?;
    assert_eq!(rich.len(), 1);
    drop(session);
    let s2 = db.session();
    let users = s2.query::<User>().preload(User::ORDERS).all()?;
    let os = users[0].read()?.orders.load()?;
    assert_eq!(os.len(), 1);
    assert_eq!(os[0].read()?.user.load()?, users[0]);
    Ok(())
}

#[derive(Model, Debug)]
pub struct Keyword {
    #[orm(primary_key)]
    pub id: i64,
    pub r#type: String,
}

#[test]
fn raw_identifier_fields_map_to_plain_column_names() -> orm::Result<()> {
    assert!(Keyword::ddl().contains("\"type\" TEXT NOT NULL"));
    let db = Database::in_memory()?;
    db.create_all::<Keyword>()?;
    let session = db.session();
    session.add(Keyword::new("adjective"));
    let found = session
        .query::<Keyword>()
        .filter(Keyword::TYPE.eq("adjective"))
        .one()?;
    assert_eq!(found.read()?.r#type, "adjective");
    Ok(())
}
