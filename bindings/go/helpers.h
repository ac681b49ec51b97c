/*
 * Helpers of the Go binding: they read an event or a members snapshot in
 * one cgo call instead of one call per field. Every pointer they write is
 * borrowed from the event or snapshot (see hearsay.h); Go copies what it
 * keeps before freeing it.
 */
#ifndef HEARSAY_GO_HELPERS_H
#define HEARSAY_GO_HELPERS_H

#include <stddef.h>
#include <stdint.h>
#include <hearsay.h>

typedef struct hs_member_view {
    const char *name;
    const char *addr;
    int32_t status;
    uint32_t incarnation;
    size_t ntags;
} hs_member_view;

typedef struct hs_event_view {
    int32_t type;
    int32_t has_member;
    const char *name;
    const uint8_t *payload;
    size_t payload_len;
    uint64_t ltime;
    const char *query_from;     /* queries only */
    uint64_t query_deadline_ms; /* queries only: left at the time of reading */
    hs_member_view member;
} hs_event_view;

/* Reads a member's fields (not its tags). */
void hs_member_read(const hearsay_member *m, hs_member_view *v);

/* Writes up to cap tag keys and values of m; returns how many it wrote. */
size_t hs_member_tags(const hearsay_member *m, const char **keys, const char **values, size_t cap);

/* Reads every member of a snapshot into views (cap entries); returns how
 * many it read. */
size_t hs_members_read(const hearsay_members *ms, hs_member_view *views, size_t cap);

/* Writes the tags of every member of a snapshot, member after member, up to
 * cap; returns how many it wrote. */
size_t hs_members_tags(const hearsay_members *ms, const char **keys, const char **values, size_t cap);

/* hearsay_pool_next_event, and on success the event read into *v. */
int32_t hs_next_event(hearsay_pool *p, int32_t timeout_ms, hearsay_event **out, hs_event_view *v);

#endif
