package dev.clickpulse.flink.alert;

import java.time.LocalDateTime;
import java.time.ZoneOffset;

import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.annotation.FunctionHint;
import org.apache.flink.table.functions.AggregateFunction;

/**
 * {@code alert_step(breaking, value, low, high, minute_start, for_minutes, cooldown_minutes, hold_minutes)}:
 * the state machine of one alert rule for one site, run as an OVER aggregate
 * ({@code PARTITION BY site_id ORDER BY window_time ROWS UNBOUNDED PRECEDING}) over the
 * site's judged minutes in event-time order (sql/alerts, clickpulse.alerts.stream).
 *
 * <p>The rule fires when {@code for_minutes} minutes in a row break it, and resolves when
 * {@code cooldown_minutes} minutes in a row do not (so a value that flaps around the band
 * raises one alert, not one per flap). From the first breaking minute of a run until the
 * resolve, minutes are judged against the band of that first minute ({@code low},
 * {@code high}; NULL = no edge), not the current one: the trailing baseline soon fills
 * with the incident itself (a site at zero would make zero look normal).
 *
 * <p>After the run, its minutes stay in the trailing baseline for {@code hold_minutes}
 * (the rule's window + baseline; 0 = no hold) and widen the band of every minute judged
 * meanwhile: a three-minute drop to zero takes the lower edge to 0 for half an hour, and
 * the same drop again would pass unseen. So until the run's last minute has left the
 * baseline, a minute breaks the rule when it is outside the band of the run's first minute
 * as well as when it is outside its own (the tighter of the two bands).
 *
 * <p>The value is {@code null} for a minute that changes nothing, otherwise
 * {@code "<firing|resolved>:<episode start ms>:<fired at ms>:<low>:<high>"} (UTC epoch ms;
 * the band judged against), where the episode starts at the first minute of the breaking
 * run that fired: the alert's id is derived from it, so the resolve carries the fire's id.
 *
 * <p>The accumulator is the OVER operator's keyed state, checkpointed with the job: a
 * restored job continues the machine where the checkpoint left it and emits no transition
 * a second time for minutes it had already judged.
 */
@FunctionHint(output = @DataTypeHint("STRING"))
public class AlertStep extends AggregateFunction<String, AlertStep.Acc> {
    private static final long serialVersionUID = 1L;

    /** POJO accumulator (Flink derives its serializer from the public fields). */
    public static class Acc {
        public boolean firing;
        public int badRun;
        public int okRun;
        public long badStart = -1L;
        public long lastBad = -1L;
        public long episodeStart = -1L;
        public long firedAt = -1L;
        public boolean frozen;
        public Double frozenLow;
        public Double frozenHigh;
        public long heldUntil = -1L;
        public Double heldLow;
        public Double heldHigh;
        public String transition;
    }

    @Override
    public Acc createAccumulator() {
        return new Acc();
    }

    public void accumulate(Acc acc, Boolean breakingNow, Double value, Double low, Double high,
                           LocalDateTime minuteStart, Integer forMinutes, Integer cooldownMinutes,
                           Integer holdMinutes) {
        acc.transition = null;
        if (minuteStart == null) {
            return;
        }
        long minuteStartMs = minuteStart.toInstant(ZoneOffset.UTC).toEpochMilli();
        boolean holding = minuteStartMs < acc.heldUntil;
        Boolean breaking = breakingNow;
        if (acc.frozen && value != null) {
            breaking = outside(value, acc.frozenLow, acc.frozenHigh);
        } else if (holding && breakingNow != null && value != null) {
            breaking = breakingNow || outside(value, acc.heldLow, acc.heldHigh);
        }
        if (breaking == null) {
            return;   // a minute the rule cannot judge (warming up, too few counts) changes nothing
        }
        if (breaking) {
            acc.okRun = 0;
            if (acc.badRun == 0) {
                acc.badStart = minuteStartMs;
                if (!acc.frozen) {
                    acc.frozen = true;
                    acc.frozenLow = holding ? tighter(low, acc.heldLow, true) : low;
                    acc.frozenHigh = holding ? tighter(high, acc.heldHigh, false) : high;
                }
            }
            acc.badRun++;
            acc.lastBad = minuteStartMs;
            if (!acc.firing && acc.badRun >= Math.max(1, forMinutes == null ? 1 : forMinutes)) {
                acc.firing = true;
                acc.episodeStart = acc.badStart;
                acc.firedAt = minuteStartMs + 60_000L;   // the end of the minute that fired
                acc.transition = emit("firing", acc);
            }
        } else {
            acc.badRun = 0;
            acc.okRun++;
            if (acc.firing && acc.okRun >= Math.max(1, cooldownMinutes == null ? 1 : cooldownMinutes)) {
                acc.firing = false;
                acc.transition = emit("resolved", acc);
            }
            if (!acc.firing && acc.frozen) {
                hold(acc, holdMinutes == null ? 0 : holdMinutes);
            }
        }
    }

    /** The run is over: its band keeps judging until its last minute leaves the baseline. */
    private static void hold(Acc acc, int holdMinutes) {
        if (holdMinutes > 0) {
            acc.heldUntil = acc.lastBad + holdMinutes * 60_000L;
            acc.heldLow = acc.frozenLow;
            acc.heldHigh = acc.frozenHigh;
        }
        acc.frozen = false;
        acc.frozenLow = null;
        acc.frozenHigh = null;
    }

    private static boolean outside(double value, Double low, Double high) {
        return (low != null && value < low) || (high != null && value > high);
    }

    /** The narrower edge: the higher lower edge, the lower upper edge (NULL = no edge). */
    private static Double tighter(Double current, Double held, boolean lower) {
        if (current == null || held == null) {
            return current;
        }
        return lower ? Math.max(current, held) : Math.min(current, held);
    }

    private static String emit(String state, Acc acc) {
        return state + ":" + acc.episodeStart + ":" + acc.firedAt + ":" + (acc.frozenLow == null ? "" : acc.frozenLow)
                + ":" + (acc.frozenHigh == null ? "" : acc.frozenHigh);
    }

    @Override
    public String getValue(Acc acc) {
        return acc.transition;
    }
}
