#include "helpers.h"

void hs_member_read(const hearsay_member *m, hs_member_view *v) {
    v->name = hearsay_member_name(m);
    v->addr = hearsay_member_addr(m);
    v->status = (int32_t)hearsay_member_status(m);
    v->incarnation = hearsay_member_incarnation(m);
    v->ntags = hearsay_member_tags_count(m);
}

size_t hs_member_tags(const hearsay_member *m, const char **keys, const char **values, size_t cap) {
    size_t n = hearsay_member_tags_count(m);
    if (n > cap)
        n = cap;
    for (size_t i = 0; i < n; i++) {
        keys[i] = hearsay_member_tag_key(m, i);
        values[i] = hearsay_member_tag_value(m, i);
    }
    return n;
}

size_t hs_members_read(const hearsay_members *ms, hs_member_view *views, size_t cap) {
    size_t n = hearsay_members_count(ms);
    if (n > cap)
        n = cap;
    for (size_t i = 0; i < n; i++)
        hs_member_read(hearsay_members_get(ms, i), &views[i]);
    return n;
}

size_t hs_members_tags(const hearsay_members *ms, const char **keys, const char **values, size_t cap) {
    size_t n = hearsay_members_count(ms), w = 0;
    for (size_t i = 0; i < n && w < cap; i++)
        w += hs_member_tags(hearsay_members_get(ms, i), keys + w, values + w, cap - w);
    return w;
}

int32_t hs_next_event(hearsay_pool *p, int32_t timeout_ms, hearsay_event **out, hs_event_view *v) {
    hearsay_event *e = NULL;
    int32_t rc = (int32_t)hearsay_pool_next_event(p, timeout_ms, &e);
    if (rc != HEARSAY_OK)
        return rc;
    size_t len = 0;
    const hearsay_member *m = hearsay_event_member(e);
    v->type = (int32_t)hearsay_event_get_type(e);
    v->name = hearsay_event_name(e);
    v->payload = hearsay_event_payload(e, &len);
    v->payload_len = len;
    v->ltime = hearsay_event_ltime(e);
    v->query_from = hearsay_event_query_from(e);
    v->query_deadline_ms = hearsay_event_query_deadline_ms(e);
    v->has_member = m != NULL;
    if (m != NULL)
        hs_member_read(m, &v->member);
    *out = e;
    return rc;
}
