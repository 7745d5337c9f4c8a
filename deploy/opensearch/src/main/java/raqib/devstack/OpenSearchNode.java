package raqib.devstack;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import org.apache.logging.log4j.LogManager;
import org.apache.logging.log4j.Logger;
import org.opensearch.Version;
import org.opensearch.analysis.common.CommonAnalysisPlugin;
import org.opensearch.common.settings.Settings;
import org.opensearch.env.Environment;
import org.opensearch.index.mapper.MapperExtrasPlugin;
import org.opensearch.node.InternalSettingsPreparer;
import org.opensearch.node.Node;
import org.opensearch.painless.PainlessPlugin;
import org.opensearch.plugins.Plugin;
import org.opensearch.transport.Netty4Plugin;

/**
 * One OpenSearch node for local runs and tests, with the distribution's modules Raqib needs
 * loaded from the classpath instead of a {@code modules/} folder (as OpenSearch's own test
 * framework does with {@code MockNode}).
 *
 * <p>Usage: {@code java -cp 'lib/*' raqib.devstack.OpenSearchNode [-E]key=value ...}. Every
 * argument is an OpenSearch setting ({@code path.home}, {@code path.data}, {@code http.port},
 * {@code transport.port}, {@code cluster.name}, ...); the defaults below make a single-node,
 * loopback-only cluster. {@code path.home} is required (or the system property
 * {@code opensearch.path.home}, as OpenSearch's own launcher passes it). SIGTERM (or SIGINT)
 * closes the node in order: shards are flushed and the cluster state is written before the
 * JVM exits.
 */
public final class OpenSearchNode {

    /** The modules a distribution would load from {@code modules/}, here from the classpath. */
    static final List<Class<? extends Plugin>> MODULES = List.of(
        Netty4Plugin.class,
        CommonAnalysisPlugin.class,
        PainlessPlugin.class,
        MapperExtrasPlugin.class
    );

    /** {@link Node}'s constructor taking classpath plugins is protected. */
    static final class ClasspathNode extends Node {
        ClasspathNode(Environment environment) {
            super(environment, MODULES, true);
        }
    }

    private OpenSearchNode() {}

    static Settings settings(String[] args) {
        Map<String, String> given = new LinkedHashMap<>();
        for (String arg : args) {
            String setting = arg.startsWith("-E") ? arg.substring(2) : arg;
            int equals = setting.indexOf('=');
            if (equals <= 0) {
                throw new IllegalArgumentException("expected key=value, got: " + arg);
            }
            given.put(setting.substring(0, equals), setting.substring(equals + 1));
        }
        String home = System.getProperty("opensearch.path.home");
        if (home != null) {
            given.putIfAbsent("path.home", home);
        }
        if (!given.containsKey("path.home")) {
            throw new IllegalArgumentException("path.home=DIR is required");
        }
        return Settings.builder()
            .put("cluster.name", "raqib-local")
            .put("node.name", "raqib-local-1")
            .put("discovery.type", "single-node")
            .put("network.host", "127.0.0.1")
            .put("http.port", "9200")
            .put("transport.port", "9300")
            // A full disk must not turn the test indices read-only.
            .put("cluster.routing.allocation.disk.threshold_enabled", "false")
            // One node cannot hold a replica: without this every index stays yellow.
            .put("cluster.default_number_of_replicas", "0")
            .loadFromMap(given)
            .build();
    }

    public static void main(String[] args) throws Exception {
        Settings settings = settings(args);
        Path home = Path.of(settings.get("path.home"));
        Path config = home.resolve("config");
        Files.createDirectories(config);
        Environment environment = InternalSettingsPreparer.prepareEnvironment(
            settings, Collections.emptyMap(), config, () -> settings.get("node.name")
        );
        Logger log = LogManager.getLogger(OpenSearchNode.class);
        Node node;
        try {
            node = new ClasspathNode(environment);
        } catch (Throwable error) {
            log.error("failed to create the node: {}", error.toString(), error);
            LogManager.shutdown();
            System.exit(1);
            return;
        }
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                log.info("stopping");
                node.close();
                if (!node.awaitClose(30, TimeUnit.SECONDS)) {
                    log.warn("node did not close within 30s");
                }
                log.info("stopped");
            } catch (Exception error) {
                log.error("failed to stop cleanly", error);
            } finally {
                stopped.countDown();
                LogManager.shutdown();
            }
        }, "raqib-opensearch-shutdown"));
        try {
            node.start();
        } catch (Throwable error) {
            log.error("failed to start: {}", error.toString(), error);
            System.exit(1); // runs the shutdown hook, which closes what did start
        }
        log.info("started: OpenSearch {}, {} classpath modules", Version.CURRENT, MODULES.size());
        // The node's own threads are daemons: keep the JVM alive until the shutdown hook ran.
        stopped.await();
    }
}
