/*
 * events: the `event` resource: its attributes and relationships, and the
 * list and detail routes (anonymous view: published, public, live events).
 *
 * Owns: the SQL text of its prepared statements (built once at start-up).
 * Never: puts request input into SQL text; values are $n parameters.
 */
#include "handlers/events.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/jsonapi.h"
#include "core/pg_pool.h"
#include "core/req_ctx.h"
#include "core/sqlbuf.h"

#define RO ATTR_READONLY
#define RQ ATTR_REQUIRED

static const struct resource_attr event_attrs[] = {
    {"name", "name", ATTR_TEXT, RQ},
    {"identifier", "identifier", ATTR_TEXT, RO},
    {"external-event-url", "external_event_url", ATTR_TEXT, 0},
    {"starts-at", "starts_at", ATTR_TIME, RQ},
    {"ends-at", "ends_at", ATTR_TIME, RQ},
    {"timezone", "timezone", ATTR_TEXT, RQ},
    {"online", "online", ATTR_BOOL, 0},
    {"latitude", "latitude", ATTR_FLOAT, 0},
    {"longitude", "longitude", ATTR_FLOAT, 0},
    {"logo-url", "logo_url", ATTR_TEXT, 0},
    {"location-name", "location_name", ATTR_TEXT, 0},
    {"searchable-location-name", "searchable_location_name", ATTR_TEXT, 0},
    {"description", "description", ATTR_TEXT, 0},
    {"original-image-url", "original_image_url", ATTR_TEXT, 0},
    {"thumbnail-image-url", "thumbnail_image_url", ATTR_TEXT, 0},
    {"large-image-url", "large_image_url", ATTR_TEXT, 0},
    {"icon-image-url", "icon_image_url", ATTR_TEXT, RO},
    {"owner-name", "owner_name", ATTR_TEXT, 0},
    {"owner-description", "owner_description", ATTR_TEXT, 0},
    {"has-owner-info", "has_owner_info", ATTR_BOOL, 0},
    {"is-map-shown", "is_map_shown", ATTR_BOOL, 0},
    {"show-remaining-tickets", "show_remaining_tickets", ATTR_BOOL, 0},
    {"privacy", "privacy", ATTR_TEXT, 0},
    {"state", "state", ATTR_TEXT, 0},
    {"ticket-url", "ticket_url", ATTR_TEXT, 0},
    {"code-of-conduct", "code_of_conduct", ATTR_TEXT, 0},
    {"schedule-published-on", "schedule_published_on", ATTR_TIME, 0},
    {"is-sessions-speakers-enabled", "is_sessions_speakers_enabled", ATTR_BOOL, 0},
    {"is-sponsors-enabled", "is_sponsors_enabled", ATTR_BOOL, 0},
    {"is-featured", "is_featured", ATTR_BOOL, RO},
    {"is-promoted", "is_promoted", ATTR_BOOL, RO},
    {"is-ticketing-enabled", "is_ticketing_enabled", ATTR_BOOL, RO},
    {"is-ticket-form-enabled", "is_ticket_form_enabled", ATTR_BOOL, RO},
    {"is-donation-enabled", "is_donation_enabled", ATTR_BOOL, RO},
    {"is-tax-enabled", "is_tax_enabled", ATTR_BOOL, RO},
    {"is-billing-info-mandatory", "is_billing_info_mandatory", ATTR_BOOL, RO},
    {"payment-country", "payment_country", ATTR_TEXT, RO},
    {"payment-currency", "payment_currency", ATTR_TEXT, RO},
    {"paypal-email", "paypal_email", ATTR_TEXT, RO},
    {"can-pay-by-paypal", "can_pay_by_paypal", ATTR_BOOL, RO},
    {"can-pay-by-stripe", "can_pay_by_stripe", ATTR_BOOL, RO},
    {"can-pay-by-cheque", "can_pay_by_cheque", ATTR_BOOL, RO},
    {"can-pay-by-bank", "can_pay_by_bank", ATTR_BOOL, RO},
    {"can-pay-onsite", "can_pay_onsite", ATTR_BOOL, RO},
    {"cheque-details", "cheque_details", ATTR_TEXT, RO},
    {"bank-details", "bank_details", ATTR_TEXT, RO},
    {"onsite-details", "onsite_details", ATTR_TEXT, RO},
    {"refund-policy", "refund_policy", ATTR_TEXT, RO},
    {"is-stripe-linked", "is_stripe_linked", ATTR_BOOL, RO},
    {"live-stream-url", "live_stream_url", ATTR_TEXT, 0},
    {"webinar-url", "webinar_url", ATTR_TEXT, 0},
    {"pentabarf-url", "pentabarf_url", ATTR_TEXT, RO},
    {"ical-url", NULL, ATTR_NULL, RO},
    {"xcal-url", NULL, ATTR_NULL, RO},
    {"created-at", "created_at", ATTR_TIME, RO},
    {"deleted-at", "deleted_at", ATTR_TIME, 0},
};

static const struct resource_rel event_rels[] = {
    {"sessions", 1},
    {"speakers", 1},
    {"tracks", 1},
    {"microlocations", 1},
    {"sponsors", 1},
    {"session-types", 1},
    {"social-links", 1},
    {"tickets", 1},
    {"event-topic", 0},
    {"owner", 0},
    {"users-events-roles", 1},
};

const struct resource event_resource = {
    .type = "event",
    .path = "events",
    .table = "events",
    .attrs = event_attrs,
    .nattrs = sizeof(event_attrs) / sizeof(event_attrs[0]),
    .rels = event_rels,
    .nrels = sizeof(event_rels) / sizeof(event_rels[0]),
};

#define PUBLIC_EVENT "e.deleted_at IS NULL AND e.state = 'published' AND e.privacy = 'public'"

static char *sql_by_id, *sql_by_ident, *sql_page, *sql_count;

static char *build(const char *fmt, const char *cols)
{
	size_t n = strlen(fmt) + strlen(cols) + 1;
	char *s = malloc(n);
	if (s)
		snprintf(s, n, fmt, cols);
	return s;
}

int events_init(struct pg_pool *pg)
{
	struct sqlbuf sb;
	sqlbuf_init(&sb);
	resource_select_list(&event_resource, "e", &sb);
	if (sqlbuf_failed(&sb))
		return -1;
	char *cols = sb.s;
	sql_by_id = build("SELECT %s FROM events e WHERE e.id = $1 AND " PUBLIC_EVENT, cols);
	sql_by_ident =
	    build("SELECT %s FROM events e WHERE e.identifier = $1 AND " PUBLIC_EVENT, cols);
	sql_page =
	    build("SELECT %s FROM events e WHERE " PUBLIC_EVENT " ORDER BY e.id LIMIT $1 OFFSET $2",
		  cols);
	sql_count = strdup("SELECT count(*) FROM events e WHERE " PUBLIC_EVENT);
	free(cols);
	if (!sql_by_id || !sql_by_ident || !sql_page || !sql_count)
		return -1;
	if (pg_pool_prepare(pg, "events_by_id", sql_by_id) < 0 ||
	    pg_pool_prepare(pg, "events_by_ident", sql_by_ident) < 0 ||
	    pg_pool_prepare(pg, "events_page", sql_page) < 0 ||
	    pg_pool_prepare(pg, "events_count", sql_count) < 0)
		return -1;
	return 0;
}

void events_cleanup(void)
{
	free(sql_by_id);
	free(sql_by_ident);
	free(sql_page);
	free(sql_count);
	sql_by_id = sql_by_ident = sql_page = sql_count = NULL;
}

static void db_error(struct req_ctx *ctx, PGresult *res)
{
	const char *state = pg_sqlstate(res);
	if (strcmp(state, "57014") == 0) /* statement_timeout */
		req_ctx_reply_error(ctx, 503, "The database did not answer in time.", NULL, NULL);
	else
		req_ctx_reply_error(ctx, 500, "The database refused the query.", NULL, NULL);
}

/* ---- detail ---- */

static void detail_done(struct req_ctx *ctx, PGresult *res, int err, void *arg)
{
	(void)arg;
	if (err != PG_OK) {
		db_error(ctx, res);
		return;
	}
	if (PQntuples(res) == 0) {
		req_ctx_reply_error(ctx, 404, "No event with this id or identifier.", NULL, NULL);
		return;
	}
	struct json_object *doc = jsonapi_doc(resource_object(&event_resource, res, 0, 0, 0, NULL));
	struct json_object *links = json_object_new_object();
	json_object_object_add(links, "self", json_object_new_string(ctx->path));
	json_object_object_add(doc, "links", links);
	req_ctx_reply_json(ctx, 200, doc, 1);
}

void events_detail(struct req_ctx *ctx)
{
	const struct route_param *p = route_param_get(&ctx->match, "event_id");
	char idbuf[24];
	const char *param;
	const char *stmt;
	if (p->is_ident) {
		param = p->ident;
		stmt = "events_by_ident";
	} else {
		snprintf(idbuf, sizeof(idbuf), "%lld", p->id);
		param = idbuf;
		stmt = "events_by_id";
	}
	req_ctx_query(ctx, PG_READ, stmt, NULL, 1, &param, detail_done, NULL);
}

/* ---- list ---- */

struct list_state {
	int pending;		  /* results still to come */
	long count;		  /* meta.count */
	long number, size;	  /* page asked for */
	struct json_object *data; /* rendered rows */
	int too_many;		  /* page[size]=0 with more than MAX_PAGE_SIZE rows */
};

static void list_free(void *p)
{
	struct list_state *st = p;
	if (st->data)
		json_object_put(st->data);
	free(st);
}

static void list_finish(struct req_ctx *ctx, struct list_state *st)
{
	if (--st->pending > 0)
		return;
	if (st->too_many) {
		req_ctx_reply_error(ctx, 400, "page[size]=0 asks for more rows than MAX_PAGE_SIZE.",
				    NULL, "page[size]");
		return;
	}
	struct json_object *doc = jsonapi_doc(st->data);
	st->data = NULL;
	jsonapi_add_paging(doc, ctx->path, &ctx->query, st->count, st->number, st->size);
	req_ctx_reply_json(ctx, 200, doc, 1);
}

static void list_rows_done(struct req_ctx *ctx, PGresult *res, int err, void *arg)
{
	struct list_state *st = arg;
	if (err != PG_OK) {
		db_error(ctx, res);
		return;
	}
	int n = PQntuples(res);
	if (st->size == 0 && n > cfg.max_page_size) {
		st->too_many = 1;
	} else {
		for (int i = 0; i < n; i++)
			json_object_array_add(st->data, resource_object(&event_resource, res, i, 0, 0, NULL));
	}
	list_finish(ctx, st);
}

static void list_count_done(struct req_ctx *ctx, PGresult *res, int err, void *arg)
{
	struct list_state *st = arg;
	if (err != PG_OK) {
		db_error(ctx, res);
		return;
	}
	st->count = strtol(PQgetvalue(res, 0, 0), NULL, 10);
	list_finish(ctx, st);
}

void events_list(struct req_ctx *ctx)
{
	long size, number;
	const char *bad = NULL;
	if (query_page(&ctx->query, cfg.max_page_size, &size, &number, &bad) < 0) {
		req_ctx_reply_error(ctx, 400, "Invalid page parameter.", NULL, bad);
		return;
	}
	struct list_state *st = calloc(1, sizeof(*st));
	if (!st || !(st->data = json_object_new_array())) {
		free(st);
		req_ctx_reply_error(ctx, 503, "Out of memory.", NULL, NULL);
		return;
	}
	st->size = size;
	st->number = number;
	st->pending = 2;
	ctx->hdata = st;
	ctx->hfree = list_free;
	char limit[24], offset[24];
	if (size == 0) {
		snprintf(limit, sizeof(limit), "%d", cfg.max_page_size + 1);
		snprintf(offset, sizeof(offset), "0");
	} else {
		snprintf(limit, sizeof(limit), "%ld", size);
		snprintf(offset, sizeof(offset), "%ld", (number - 1) * size);
	}
	const char *params[2] = {limit, offset};
	if (req_ctx_query(ctx, PG_READ, "events_page", NULL, 2, params, list_rows_done, st) < 0)
		return;
	req_ctx_query(ctx, PG_READ, "events_count", NULL, 0, NULL, list_count_done, st);
}
