-- The demo's sample application (tables; shop-constraints.sql adds the rest after the load): a small shop, as a Rails or Django app would have it on Heroku.
-- Everything a real migration meets: foreign keys (one into a partitioned table), an enum,
-- jsonb with a GIN index, an array, a generated column, an identity column, a standalone
-- sequence, a partial index, a user trigger, a view and a materialized view; and a join table
-- without any key, holding identical duplicate rows.
create type order_status as enum ('pending', 'paid', 'shipped', 'delivered', 'cancelled');

create table customers (
  id bigserial primary key,
  email text not null unique,
  name text not null,
  country char(2) not null,
  preferences jsonb not null default '{}',
  -- Incremented by every update the app makes: the demo counts acknowledged updates with it.
  version int not null default 1,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);

create table products (
  id serial primary key,
  public_id uuid not null unique,
  sku text not null unique,
  name text not null,
  price numeric(10, 2) not null check (price >= 0),
  attributes jsonb not null default '{}',
  tags text[] not null default '{}',
  stock int not null default 0
);

create sequence invoice_number_seq start 100000;

create table orders (
  id bigserial,
  customer_id bigint not null,
  status order_status not null default 'pending',
  invoice_no bigint not null default nextval('invoice_number_seq'),
  total numeric(12, 2) not null default 0,
  shipping jsonb,
  created_at timestamptz not null default now(),
  primary key (id, created_at)
) partition by range (created_at);

create table order_items (
  id bigserial primary key,
  order_id bigint not null,
  order_created_at timestamptz not null,
  product_id int not null,
  quantity int not null check (quantity > 0),
  unit_price numeric(10, 2) not null,
  line_total numeric(12, 2) generated always as (quantity * unit_price) stored
);

create table events (
  id bigint generated always as identity primary key,
  customer_id bigint,
  kind text not null,
  payload jsonb not null,
  at timestamptz not null default now()
);

-- As a Rails has_and_belongs_to_many join table: no primary key, no unique index. A product
-- wished for twice on the same day is two identical rows.
create table wishlist_items (
  customer_id bigint not null,
  product_id int not null,
  added_on date not null
);

create function touch_updated_at() returns trigger language plpgsql as $$
begin
  new.updated_at := now();
  return new;
end $$;
create trigger customers_touch before update on customers
  for each row execute procedure touch_updated_at();

create view open_orders as
  select o.id, o.created_at, o.status, c.email, o.total
    from orders o join customers c on c.id = o.customer_id
   where o.status in ('pending', 'paid');

create materialized view daily_revenue as
  select date_trunc('day', created_at) as day, count(*) as orders, sum(total) as revenue
    from orders where status <> 'cancelled' group by 1;
