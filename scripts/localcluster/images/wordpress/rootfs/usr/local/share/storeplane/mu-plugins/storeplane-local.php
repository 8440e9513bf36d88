<?php
/**
 * Plugin Name: storeplane local pages (no outside URLs)
 * Description: Local stores reach nothing outside the machine, so their pages must not ask a browser to: no emoji
 * script or DNS prefetch (s.w.org), no REST discovery link naming api.w.org, no wordpress.org link on the login
 * page. A must-use plugin from the image (WPMU_PLUGIN_DIR), so it applies to every store and no one deactivates it.
 */

defined('ABSPATH') || exit;

foreach (['wp_head', 'admin_print_scripts', 'embed_head', 'login_head'] as $hook) {
    remove_action($hook, 'print_emoji_detection_script', 7);
    remove_action($hook, 'print_emoji_detection_script');
}
foreach (['wp_print_styles', 'admin_print_styles', 'embed_head', 'login_head'] as $hook) {
    remove_action($hook, 'print_emoji_styles');
}
remove_action('wp_enqueue_scripts', 'wp_enqueue_emoji_styles');
remove_action('admin_enqueue_scripts', 'wp_enqueue_emoji_styles');
remove_filter('the_content_feed', 'wp_staticize_emoji');
remove_filter('comment_text_rss', 'wp_staticize_emoji');
remove_filter('wp_mail', 'wp_staticize_emoji_for_email');
add_filter('emoji_svg_url', '__return_false');
remove_action('wp_head', 'rest_output_link_wp_head', 10);
remove_action('template_redirect', 'rest_output_link_header', 11);
remove_action('wp_head', 'wlwmanifest_link');
remove_action('wp_head', 'rsd_link');
// Duotone SVG filters the classic stand-in themes never use (and whose markup names w3.org).
remove_action('wp_body_open', 'wp_global_styles_render_svg_filters');

// Resource hints (dns-prefetch, preconnect) only for this site's own host.
add_filter('wp_resource_hints', static function (array $urls): array {
    $own = wp_parse_url(home_url(), PHP_URL_HOST);
    return array_values(array_filter($urls, static function ($url) use ($own): bool {
        $href = is_array($url) ? ($url['href'] ?? '') : (string) $url;
        $host = wp_parse_url(str_starts_with($href, '//') ? "http:$href" : $href, PHP_URL_HOST);
        return $host === null || $host === $own;
    }));
}, 99);

add_filter('login_headerurl', static fn () => home_url('/'));
add_filter('login_headertext', static fn () => get_bloginfo('name'));
