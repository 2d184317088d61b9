package meshwork.bench;

import java.io.BufferedWriter;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.OutputStreamWriter;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;

import io.debezium.engine.ChangeEvent;
import io.debezium.engine.DebeziumEngine;
import io.debezium.engine.format.Json;

/**
 * Debezium's embedded engine with its PostgreSQL connector (pgoutput),
 * every change event written as one JSON line:
 *
 *   {"topic":"...","key":{"schema":...,"payload":...},"value":{"schema":...,"payload":...}}
 *
 * key and value are exactly what Kafka Connect's JsonConverter (schemas
 * enabled) made of the record; value is null for a tombstone.  Lines are
 * flushed after every batch the engine hands over.
 *
 * It stops after --max-events events, or when no event came for --idle-ms
 * after the first one (or for --start-timeout-ms before the first one),
 * and then prints one summary line on stderr:
 *
 *   debezium: events=N window_s=S events_per_s=R vm_hwm_kb=K
 *
 * where the window runs from the first event received to the last one
 * (JVM start-up, connection and slot set-up are outside it) and vm_hwm_kb
 * is the JVM's peak resident set (VmHWM of /proc/self/status).
 *
 * Options (all --name value): host, port, db, user, password, tables
 * (table.include.list, e.g. public.a,public.b), slot, publication,
 * snapshot-mode (default no_data: stream only), out (file, "-" for
 * stdout, "none" to discard), max-events, idle-ms, start-timeout-ms,
 * state-dir (offsets file; default a fresh temporary directory),
 * topic-prefix (default mesh), and any number of --set key=value, passed
 * to the engine as they are (e.g. --set decimal.handling.mode=string).
 */
public final class DebeziumCapture {

    private static final Object LOCK = new Object();
    private static long events;
    private static long firstNs;
    private static long lastNs;
    private static Writer out;

    private DebeziumCapture() {
    }

    private static void usage(String why) {
        System.err.println("debezium: " + why);
        System.err.println("usage: DebeziumCapture --host H --port P --db D --user U"
                + " --tables public.t[,...] --slot S --publication PUB"
                + " [--password X] [--snapshot-mode no_data|initial|...]"
                + " [--out FILE|-|none] [--max-events N] [--idle-ms MS]"
                + " [--start-timeout-ms MS] [--state-dir DIR] [--topic-prefix P]"
                + " [--set key=value]...");
        System.exit(2);
    }

    public static void main(String[] args) throws Exception {
        Properties opt = new Properties();
        Properties extra = new Properties();
        for (int i = 0; i < args.length; i += 2) {
            if (!args[i].startsWith("--") || i + 1 >= args.length) {
                usage("bad argument " + args[i]);
            }
            String name = args[i].substring(2);
            String val = args[i + 1];
            if (name.equals("set")) {
                int eq = val.indexOf('=');
                if (eq <= 0) {
                    usage("--set needs key=value");
                }
                extra.setProperty(val.substring(0, eq), val.substring(eq + 1));
            } else {
                opt.setProperty(name, val);
            }
        }
        for (String req : new String[] {"host", "port", "db", "user", "tables", "slot",
                "publication"}) {
            if (opt.getProperty(req) == null) {
                usage("--" + req + " is required");
            }
        }
        long maxEvents = Long.parseLong(opt.getProperty("max-events", "0"));
        long idleMs = Long.parseLong(opt.getProperty("idle-ms", "0"));
        long startTimeoutMs = Long.parseLong(opt.getProperty("start-timeout-ms", "120000"));
        String outName = opt.getProperty("out", "-");
        Path state = opt.getProperty("state-dir") != null
                ? Path.of(opt.getProperty("state-dir"))
                : Files.createTempDirectory("debezium-capture");
        Files.createDirectories(state);

        Properties p = new Properties();
        p.setProperty("name", "meshwork-debezium-capture");
        p.setProperty("connector.class", "io.debezium.connector.postgresql.PostgresConnector");
        p.setProperty("offset.storage", "org.apache.kafka.connect.storage.FileOffsetBackingStore");
        p.setProperty("offset.storage.file.filename", state.resolve("offsets.dat").toString());
        p.setProperty("offset.flush.interval.ms", "1000");
        p.setProperty("database.hostname", opt.getProperty("host"));
        p.setProperty("database.port", opt.getProperty("port"));
        p.setProperty("database.user", opt.getProperty("user"));
        p.setProperty("database.password", opt.getProperty("password", ""));
        p.setProperty("database.dbname", opt.getProperty("db"));
        p.setProperty("topic.prefix", opt.getProperty("topic-prefix", "mesh"));
        p.setProperty("plugin.name", "pgoutput");
        p.setProperty("slot.name", opt.getProperty("slot"));
        p.setProperty("publication.name", opt.getProperty("publication"));
        // The caller creates the publication (and usually the slot): never
        // let the connector change which tables it covers.
        p.setProperty("publication.autocreate.mode", "disabled");
        p.setProperty("table.include.list", opt.getProperty("tables"));
        p.setProperty("snapshot.mode", opt.getProperty("snapshot-mode", "no_data"));
        // Kafka Connect's JsonConverter with the Connect schema in every
        // key and value.
        p.setProperty("converter.schemas.enable", "true");
        p.setProperty("key.converter.schemas.enable", "true");
        p.setProperty("value.converter.schemas.enable", "true");
        p.putAll(extra);

        if (outName.equals("none")) {
            out = Writer.nullWriter();
        } else if (outName.equals("-")) {
            out = new BufferedWriter(new OutputStreamWriter(System.out, StandardCharsets.UTF_8),
                    1 << 16);
        } else {
            out = new BufferedWriter(new OutputStreamWriter(new FileOutputStream(outName),
                    StandardCharsets.UTF_8), 1 << 16);
        }

        CountDownLatch done = new CountDownLatch(1);
        final String[] failure = new String[1];
        DebeziumEngine<ChangeEvent<String, String>> engine = DebeziumEngine.create(Json.class)
                .using(p)
                .using((success, message, error) -> {
                    if (!success) {
                        failure[0] = message + (error != null ? ": " + error : "");
                    }
                    done.countDown();
                })
                .notifying((List<ChangeEvent<String, String>> batch,
                        DebeziumEngine.RecordCommitter<ChangeEvent<String, String>> committer) -> {
                    long arrived = System.nanoTime();
                    StringBuilder sb = new StringBuilder(256 * batch.size());
                    for (ChangeEvent<String, String> ev : batch) {
                        sb.append("{\"topic\":\"").append(ev.destination())
                                .append("\",\"key\":").append(ev.key())
                                .append(",\"value\":").append(ev.value()).append("}\n");
                    }
                    try {
                        synchronized (LOCK) {
                            out.write(sb.toString());
                            out.flush();
                            // The window opens when the first batch
                            // arrives (its own writing is inside it) and
                            // closes when the last one is written.
                            if (events == 0) {
                                firstNs = arrived;
                            }
                            lastNs = System.nanoTime();
                            events += batch.size();
                        }
                    } catch (IOException e) {
                        throw new RuntimeException(e);
                    }
                    for (ChangeEvent<String, String> ev : batch) {
                        committer.markProcessed(ev);
                    }
                    committer.markBatchFinished();
                })
                .build();

        ExecutorService exec = Executors.newSingleThreadExecutor();
        long startNs = System.nanoTime();
        exec.execute(engine);

        String stopWhy = null;
        while (stopWhy == null) {
            if (done.await(50, TimeUnit.MILLISECONDS)) {
                stopWhy = "engine stopped";
                break;
            }
            long now = System.nanoTime();
            long n;
            long last;
            synchronized (LOCK) {
                n = events;
                last = lastNs;
            }
            if (maxEvents > 0 && n >= maxEvents) {
                stopWhy = "max-events reached";
            } else if (n == 0 && startTimeoutMs > 0
                    && now - startNs > startTimeoutMs * 1_000_000L) {
                stopWhy = "no event within start-timeout-ms";
            } else if (n > 0 && idleMs > 0 && now - last > idleMs * 1_000_000L) {
                stopWhy = "idle for idle-ms";
            }
        }
        engine.close();
        exec.shutdown();
        exec.awaitTermination(60, TimeUnit.SECONDS);
        synchronized (LOCK) {
            out.flush();
            if (!outName.equals("-")) {
                out.close();
            }
        }
        double window = (lastNs - firstNs) / 1e9;
        System.err.printf("debezium: events=%d window_s=%.3f events_per_s=%.0f vm_hwm_kb=%d"
                + " (%s)%n", events, window, window > 0 ? events / window : 0.0, vmHwmKb(),
                stopWhy);
        if (failure[0] != null) {
            System.err.println("debezium: engine failed: " + failure[0]);
            System.exit(1);
        }
        System.exit(events > 0 ? 0 : 1);
    }

    private static long vmHwmKb() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith("VmHWM:")) {
                    return Long.parseLong(line.replaceAll("[^0-9]", ""));
                }
            }
        } catch (IOException | NumberFormatException e) {
            return -1;
        }
        return -1;
    }
}
