REVOKE SELECT ON _sqlx_migrations FROM frontdesk_app;
