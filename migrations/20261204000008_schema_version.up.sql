-- Lets the runtime role see which migrations are applied, so `frontdesk api`
-- and `frontdesk worker` (which never migrate) can refuse a schema that is
-- behind the binary instead of failing on its first query.
GRANT SELECT ON _sqlx_migrations TO frontdesk_app;
