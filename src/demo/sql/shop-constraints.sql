-- Applied after the sample rows are loaded, as a restore would: bulk inserts go much faster
-- without foreign-key checks and secondary indexes to maintain row by row.
alter table orders add foreign key (customer_id) references customers (id);
alter table order_items add foreign key (product_id) references products (id);
alter table order_items add foreign key (order_id, order_created_at)
  references orders (id, created_at) on delete cascade;
alter table events add foreign key (customer_id) references customers (id) on delete set null;
create index orders_customer on orders (customer_id);
create index orders_open on orders (status) where status in ('pending', 'paid');
create index order_items_order on order_items (order_id, order_created_at);
create index order_items_product on order_items (product_id);
create index events_customer_at on events (customer_id, at);
create index events_payload on events using gin (payload jsonb_path_ops);
