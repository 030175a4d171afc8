package dev.clickpulse.flink;

import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.JsonNode;

import java.util.Locale;
import java.util.regex.Pattern;

/**
 * The event contract of schema/event.v1.json, as code. Every rule here has a twin in the
 * JSON Schema (used by the collector) and in clickpulse.truth (the test reference), and
 * the reason strings are part of the contract: they are the `reason` of invalid_events
 * and of the dead-letter topic, so keep them short and few.
 */
final class EventContract {
    private static final Pattern EVENT_TYPE = Pattern.compile("[A-Za-z0-9_.:-]+");
    static final long MAX_TS = 32503680000000L; // year 3000

    private EventContract() {}

    /** Thrown with the reason that goes to the dead-letter topic. */
    static final class Invalid extends Exception {
        Invalid(String reason) {
            super(reason, null, false, false);
        }
    }

    /** One valid event, typed. */
    static final class Event {
        String eventId, eventType, siteId, userId, sessionId, page, referrer, country, device, plan, properties, bot;
        /** Campaign tags (utm_source and utm_medium ASCII lower-cased) and the referrer's host, derived. */
        String utmSource, utmMedium, utmCampaign, referrerDomain;
        long ts;
        int schemaVersion;
    }

    /**
     * Validates one JSON object. {@code now} and {@code maxFutureMs} bound how far ahead of
     * the wall clock an event may be stamped: one bad client clock must not move the
     * watermark for everybody.
     */
    static Event parse(JsonNode o, long now, long maxFutureMs) throws Invalid {
        if (o == null || !o.isObject()) {
            throw new Invalid("not a JSON object");
        }
        Event e = new Event();
        e.eventId = requiredString(o, "event_id", 128);
        e.eventType = requiredString(o, "event_type", 64);
        if (!EVENT_TYPE.matcher(e.eventType).matches()) {
            throw new Invalid("event_type: only letters, digits and _ . : - allowed");
        }
        e.siteId = requiredString(o, "site_id", 128);
        e.userId = requiredString(o, "user_id", 256);
        e.sessionId = optionalString(o, "session_id", 256);
        e.ts = ts(o, now, maxFutureMs);
        e.page = requiredString(o, "page", 2048);
        e.referrer = optionalString(o, "referrer", 2048);
        e.country = country(o);
        e.device = device(o);
        e.plan = optionalString(o, "plan", 64);
        e.properties = properties(o);
        e.schemaVersion = schemaVersion(o);
        e.bot = optionalString(o, "bot", 64);
        e.utmSource = asciiLower(optionalString(o, "utm_source", 256));
        e.utmMedium = asciiLower(optionalString(o, "utm_medium", 256));
        e.utmCampaign = optionalString(o, "utm_campaign", 256);
        e.referrerDomain = referrerDomain(e.referrer);
        return e;
    }

    static String requiredString(JsonNode o, String field, int maxLen) throws Invalid {
        JsonNode v = o.get(field);
        if (v == null || v.isNull()) {
            throw new Invalid(field + ": missing");
        }
        if (!v.isTextual()) {
            throw new Invalid(field + ": expected string");
        }
        String s = v.textValue();
        if (s.isEmpty()) {
            throw new Invalid(field + ": empty");
        }
        if (s.length() > maxLen) {
            throw new Invalid(field + ": longer than " + maxLen);
        }
        return s;
    }

    static String optionalString(JsonNode o, String field, int maxLen) throws Invalid {
        JsonNode v = o.get(field);
        if (v == null || v.isNull()) {
            return null;
        }
        if (!v.isTextual()) {
            throw new Invalid(field + ": expected string");
        }
        String s = v.textValue();
        if (s.length() > maxLen) {
            throw new Invalid(field + ": longer than " + maxLen);
        }
        return s.isEmpty() ? null : s;
    }

    static long ts(JsonNode o, long now, long maxFutureMs) throws Invalid {
        JsonNode v = o.get("ts");
        if (v == null || v.isNull()) {
            throw new Invalid("ts: missing");
        }
        if (!v.isIntegralNumber() || !v.canConvertToLong()) {
            throw new Invalid("ts: expected integer epoch milliseconds");
        }
        long ts = v.longValue();
        if (ts < 0 || ts > MAX_TS) {
            throw new Invalid("ts: out of range");
        }
        if (ts > now + maxFutureMs) {
            throw new Invalid("ts: too far in the future");
        }
        return ts;
    }

    static String country(JsonNode o) throws Invalid {
        String c = optionalString(o, "country", 2);
        if (c == null) {
            return null;
        }
        if (c.length() != 2 || !asciiLetter(c.charAt(0)) || !asciiLetter(c.charAt(1))) {
            throw new Invalid("country: expected ISO 3166-1 alpha-2");
        }
        return c.toUpperCase(Locale.ROOT);
    }

    private static boolean asciiLetter(char c) {
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
    }

    static String device(JsonNode o) throws Invalid {
        String d = optionalString(o, "device", 16);
        if (d == null) {
            return null;
        }
        d = d.toLowerCase(Locale.ROOT);
        if (!d.equals("desktop") && !d.equals("mobile") && !d.equals("tablet")) {
            throw new Invalid("device: expected desktop, mobile or tablet");
        }
        return d;
    }

    static String properties(JsonNode o) throws Invalid {
        JsonNode v = o.get("properties");
        if (v == null || v.isNull()) {
            return null;
        }
        if (!v.isObject()) {
            throw new Invalid("properties: expected object");
        }
        return v.toString();
    }

    static int schemaVersion(JsonNode o) throws Invalid {
        JsonNode v = o.get("schema_version");
        if (v == null || v.isNull()) {
            return 1;
        }
        if (!v.isIntegralNumber() || !v.canConvertToLong() || v.longValue() < 1 || v.longValue() > Integer.MAX_VALUE) {
            throw new Invalid("schema_version: expected integer >= 1");
        }
        return v.intValue();
    }

    /**
     * The host a referrer URL names: after "scheme://", up to the first / ? or #, without
     * user info or port, ASCII lower-cased, without a leading "www."; null when the referrer
     * is not an absolute URL or names no host. Spelled out (not java.net.URI) so that
     * clickpulse.truth computes the same for every string, malformed ones included.
     */
    static String referrerDomain(String referrer) {
        if (referrer == null) {
            return null;
        }
        int scheme = referrer.indexOf("://");
        if (scheme < 0) {
            return null;
        }
        String h = referrer.substring(scheme + 3);
        int end = h.length();
        for (char stop : new char[] {'/', '?', '#'}) {
            int i = h.indexOf(stop);
            if (i >= 0 && i < end) {
                end = i;
            }
        }
        h = h.substring(0, end);
        h = h.substring(h.lastIndexOf('@') + 1);
        int colon = h.lastIndexOf(':');
        if (colon >= 0 && allDigits(h, colon + 1)) {
            h = h.substring(0, colon);
        }
        h = asciiLower(h);
        if (h.startsWith("www.")) {
            h = h.substring(4);
        }
        return h.isEmpty() ? null : h;
    }

    private static boolean allDigits(String s, int from) {
        for (int i = from; i < s.length(); i++) {
            if (s.charAt(i) < '0' || s.charAt(i) > '9') {
                return false;
            }
        }
        return true;
    }

    /** Lower-cases A-Z only: locale- and Unicode-independent, like the reference's. */
    static String asciiLower(String s) {
        if (s == null) {
            return null;
        }
        char[] cs = s.toCharArray();
        for (int i = 0; i < cs.length; i++) {
            if (cs[i] >= 'A' && cs[i] <= 'Z') {
                cs[i] = (char) (cs[i] + 32);
            }
        }
        return new String(cs);
    }
}
