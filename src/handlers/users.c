/*
 * users: the `user` resource. Anyone may sign up; a user and admins read
 * and change the user; through other routes strangers see only the public
 * names and the avatar. The password is hashed on the worker pool and is
 * never rendered; admin flags are written only by (super) admins.
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "core/crud.h"
#include "core/mailaddr.h"
#include "core/password.h"
#include "core/req_ctx.h"
#include "core/workers.h"
#include "handlers/resources.h"

#define PV ATTR_PRIVATE

static const struct resource_attr user_attrs[] = {
    {"email", "email", ATTR_TEXT, ATTR_REQUIRED | ATTR_NONEMPTY | PV},
    {"password", "password_hash", ATTR_TEXT, ATTR_WRITEONLY},
    {"first-name", "first_name", ATTR_TEXT, 0},
    {"last-name", "last_name", ATTR_TEXT, 0},
    {"public-name", "public_name", ATTR_TEXT, 0},
    {"avatar-url", "avatar_url", ATTR_TEXT, 0},
    {"original-image-url", "original_image_url", ATTR_TEXT, PV},
    {"thumbnail-image-url", "thumbnail_image_url", ATTR_TEXT, ATTR_READONLY | PV},
    {"small-image-url", "small_image_url", ATTR_TEXT, ATTR_READONLY | PV},
    {"icon-image-url", "icon_image_url", ATTR_TEXT, ATTR_READONLY | PV},
    {"details", "details", ATTR_TEXT, PV},
    {"contact", "contact", ATTR_TEXT, PV},
    {"facebook-url", "facebook_url", ATTR_TEXT, PV},
    {"twitter-url", "twitter_url", ATTR_TEXT, PV},
    {"instagram-url", "instagram_url", ATTR_TEXT, PV},
    {"google-plus-url", "google_plus_url", ATTR_TEXT, PV},
    {"company", "company", ATTR_TEXT, PV},
    {"is-admin", "is_admin", ATTR_BOOL, ATTR_ADMIN | PV},
    {"is-super-admin", "is_super_admin", ATTR_BOOL, ATTR_SUPER | PV},
    {"is-sales-admin", "is_sales_admin", ATTR_BOOL, ATTR_READONLY | PV},
    {"is-marketer", "is_marketer", ATTR_BOOL, ATTR_READONLY | PV},
    {"is-verified", "is_verified", ATTR_BOOL, ATTR_ADMIN | PV},
    {"was-registered-with-order", "was_registered_with_order", ATTR_BOOL, ATTR_READONLY | PV},
    {"created-at", "created_at", ATTR_TIME, ATTR_READONLY | PV},
    {"last-accessed-at", "last_accessed_at", ATTR_TIME, ATTR_READONLY | PV},
    {"deleted-at", "deleted_at", ATTR_TIME, PV},
};

static const struct resource_rel user_rels[] = {
    {"events", 1, &event_resource, NULL, NULL, NULL, NULL,
     "SELECT uer.event_id FROM users_events_roles uer WHERE uer.user_id = %s.id AND "
     "uer.role_id = 1",
     REL_READONLY | REL_PRIVATE},
    {"sessions", 1, &session_resource, "creator_id", NULL, NULL, NULL, NULL, REL_READONLY},
    {"speakers", 1, &speaker_resource, "user_id", NULL, NULL, NULL, NULL, REL_READONLY},
};

struct hash_job {
	struct write_ctx *w;		   /* the write waiting for the hash */
	struct req_ctx *ctx;		   /* holds a reference while the job runs */
	char password[1025];		   /* the clear text, wiped after use */
	char hash[crypto_pwhash_STRBYTES]; /* the result */
	int ok;				   /* hashing succeeded */
};

static void hash_work(void *arg)
{
	struct hash_job *j = arg;
	j->ok = password_hash(j->password, j->hash) == 0;
	sodium_memzero(j->password, sizeof(j->password));
}

static void hash_done(void *arg)
{
	struct hash_job *j = arg;
	struct req_ctx *ctx = j->ctx;
	if (req_ctx_alive(ctx)) {
		if (!j->ok) {
			req_ctx_reply_error(ctx, 503, "Could not hash the password.", NULL, NULL);
		} else {
			crud_set_column(j->w, "password_hash", j->hash);
			crud_write_resume(j->w, 1);
		}
	}
	sodium_memzero(j, sizeof(*j));
	free(j);
	req_ctx_unref(ctx);
}

static int user_before_write(struct write_ctx *w)
{
	struct req_ctx *ctx = w->ctx;
	if (w->creating)
		w->allowed = 1; /* sign-up is open */
	struct json_object *email = NULL;
	if (w->attrs && json_object_object_get_ex(w->attrs, "email", &email) &&
	    json_object_is_type(email, json_type_string) &&
	    !mail_address_ok(json_object_get_string(email),
			     (size_t)json_object_get_string_len(email))) {
		req_ctx_reply_error(ctx, 422, "The email address is not valid.",
				    "/data/attributes/email", NULL);
		return -1;
	}
	struct json_object *pw = NULL;
	if (!w->attrs || !json_object_object_get_ex(w->attrs, "password", &pw)) {
		if (w->creating) {
			req_ctx_reply_error(ctx, 422, "A password is required.",
					    "/data/attributes/password", NULL);
			return -1;
		}
		return 0;
	}
	if (!w->allowed)
		return 0; /* refused before any hashing */
	if (!json_object_is_type(pw, json_type_string) || json_object_get_string_len(pw) < 8 ||
	    json_object_get_string_len(pw) > 1024) {
		req_ctx_reply_error(ctx, 422, "The password must be a string of 8 to 1024 bytes.",
				    "/data/attributes/password", NULL);
		return -1;
	}
	if (!w->creating) /* a new password ends every session of the old one */
		crud_set_column(w, "tokens_valid_after", "now");
	struct hash_job *j = calloc(1, sizeof(*j));
	if (!j) {
		req_ctx_reply_error(ctx, 503, "Out of memory.", NULL, NULL);
		return -1;
	}
	j->w = w;
	j->ctx = ctx;
	memcpy(j->password, json_object_get_string(pw), (size_t)json_object_get_string_len(pw));
	req_ctx_ref(ctx);
	if (workers_submit_big(hash_work, hash_done, j) < 0) {
		sodium_memzero(j, sizeof(*j));
		free(j);
		req_ctx_unref(ctx);
		req_ctx_reply_error(ctx, 503, "The server is busy; try again.", NULL, NULL);
		return -1;
	}
	return 1;
}

const struct resource user_resource = {
    .type = "user",
    .path = "users",
    .table = "users",
    .attrs = user_attrs,
    .nattrs = sizeof(user_attrs) / sizeof(user_attrs[0]),
    .rels = user_rels,
    .nrels = sizeof(user_rels) / sizeof(user_rels[0]),
    .soft_delete = 1,
    .list_route = 1,
    .perm_list = PERM_ADMIN,
    .perm_create = PERM_ANYONE,
    .perm_update = PERM_SELF,
    .perm_delete = PERM_SELF,
    .before_write = user_before_write,
};
