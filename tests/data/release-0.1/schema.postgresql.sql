-- The schema that release 0.1 (digest migrate = metadata.create_all) wrote on postgresql.

CREATE TABLE audit (
	id SERIAL NOT NULL, 
	at TIMESTAMP WITHOUT TIME ZONE NOT NULL, 
	actor VARCHAR(200) NOT NULL, 
	action VARCHAR(100) NOT NULL, 
	detail TEXT NOT NULL, 
	PRIMARY KEY (id)
);

CREATE TABLE items (
	id SERIAL NOT NULL, 
	key VARCHAR(1000) NOT NULL, 
	source VARCHAR(200) NOT NULL, 
	type VARCHAR(100), 
	title TEXT NOT NULL, 
	summary TEXT, 
	url TEXT, 
	image_caption TEXT, 
	categories TEXT NOT NULL, 
	published TIMESTAMP WITHOUT TIME ZONE NOT NULL, 
	updated TIMESTAMP WITHOUT TIME ZONE NOT NULL, 
	first_seen TIMESTAMP WITHOUT TIME ZONE NOT NULL, 
	PRIMARY KEY (id), 
	UNIQUE (key)
);

CREATE INDEX ix_items_published ON items (published, id);

CREATE INDEX ix_items_source_published ON items (source, published);

CREATE INDEX ix_items_type_published ON items (type, published, id);

CREATE TABLE leases (
	name VARCHAR(100) NOT NULL, 
	holder VARCHAR(200) NOT NULL, 
	expires TIMESTAMP WITHOUT TIME ZONE NOT NULL, 
	PRIMARY KEY (name)
);

CREATE TABLE mailings (
	id SERIAL NOT NULL, 
	kind VARCHAR(20) NOT NULL, 
	ident VARCHAR(1200) NOT NULL, 
	item_key VARCHAR(1000), 
	period_start TIMESTAMP WITHOUT TIME ZONE, 
	period_end TIMESTAMP WITHOUT TIME ZONE, 
	subject TEXT NOT NULL, 
	status VARCHAR(20) NOT NULL, 
	created TIMESTAMP WITHOUT TIME ZONE NOT NULL, 
	PRIMARY KEY (id), 
	UNIQUE (ident)
);

CREATE TABLE sources (
	name VARCHAR(200) NOT NULL, 
	etag TEXT, 
	last_modified TEXT, 
	polled_at TIMESTAMP WITHOUT TIME ZONE, 
	result TEXT, 
	PRIMARY KEY (name)
);

CREATE TABLE subscribers (
	id SERIAL NOT NULL, 
	email VARCHAR(320) NOT NULL, 
	name TEXT NOT NULL, 
	outlet TEXT NOT NULL, 
	types_key VARCHAR(1000) NOT NULL, 
	weekly BOOLEAN NOT NULL, 
	breaking BOOLEAN NOT NULL, 
	status VARCHAR(20) NOT NULL, 
	created TIMESTAMP WITHOUT TIME ZONE NOT NULL, 
	updated TIMESTAMP WITHOUT TIME ZONE NOT NULL, 
	PRIMARY KEY (id), 
	UNIQUE (email)
);

CREATE INDEX ix_subscribers_status ON subscribers (status, types_key);

CREATE TABLE deliveries (
	id SERIAL NOT NULL, 
	mailing_id INTEGER NOT NULL, 
	subscriber_id INTEGER NOT NULL, 
	email VARCHAR(320) NOT NULL, 
	name TEXT NOT NULL, 
	types_key VARCHAR(1000) NOT NULL, 
	status VARCHAR(20) NOT NULL, 
	attempts INTEGER NOT NULL, 
	next_attempt TIMESTAMP WITHOUT TIME ZONE NOT NULL, 
	claimed_by VARCHAR(200), 
	lease_until TIMESTAMP WITHOUT TIME ZONE, 
	reply TEXT, 
	sent_at TIMESTAMP WITHOUT TIME ZONE, 
	PRIMARY KEY (id), 
	UNIQUE (mailing_id, subscriber_id), 
	FOREIGN KEY(mailing_id) REFERENCES mailings (id), 
	FOREIGN KEY(subscriber_id) REFERENCES subscribers (id)
);

CREATE INDEX ix_deliveries_due ON deliveries (status, next_attempt);

CREATE INDEX ix_deliveries_mailing ON deliveries (mailing_id, status);

CREATE TABLE mailing_bodies (
	mailing_id INTEGER NOT NULL, 
	types_key VARCHAR(1000) NOT NULL, 
	subject TEXT NOT NULL, 
	html TEXT NOT NULL, 
	text TEXT NOT NULL, 
	PRIMARY KEY (mailing_id, types_key), 
	FOREIGN KEY(mailing_id) REFERENCES mailings (id)
);

CREATE TABLE mailing_items (
	mailing_id INTEGER NOT NULL, 
	item_id INTEGER NOT NULL, 
	PRIMARY KEY (mailing_id, item_id), 
	FOREIGN KEY(mailing_id) REFERENCES mailings (id), 
	FOREIGN KEY(item_id) REFERENCES items (id)
);

CREATE INDEX ix_mailing_items_item ON mailing_items (item_id);
