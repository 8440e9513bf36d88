<?php
/**
 * Plugin Name: WooCommerce (LOCAL STAND-IN for tests - not WooCommerce)
 * Description: LOCAL STAND-IN used by storeplane's local test images, because the real WooCommerce plugin is in no package registry reachable here. It registers products the way WooCommerce stores them (post type "product", its meta keys, the product_type taxonomy), creates the shop, cart, checkout and my-account pages, lists the products on the shop page and shows a product page. It takes NO orders: no cart, checkout, payments or customer accounts.
 * Version: 0.0.0-local-standin
 * Author: storeplane (local images)
 * License: GPLv2 or later
 * Requires at least: 6.0
 */

defined('ABSPATH') || exit;

const WC_STANDIN_VERSION = '0.0.0-local-standin';
const WC_STANDIN_NOTICE = 'This shop runs on a local stand-in for WooCommerce (storeplane test images): '
    . 'products are listed, but nothing can be bought or ordered here.';

/** The pages `wc tool run install_pages` creates: key => [slug, option, title, content], as WooCommerce names them. */
function wc_standin_pages(): array
{
    $shortcode = static fn (string $tag): string => "<!-- wp:shortcode -->[$tag]<!-- /wp:shortcode -->";
    return [
        'shop' => ['shop', 'woocommerce_shop_page_id', 'Shop', ''],
        'cart' => ['cart', 'woocommerce_cart_page_id', 'Cart', $shortcode('woocommerce_cart')],
        'checkout' => ['checkout', 'woocommerce_checkout_page_id', 'Checkout', $shortcode('woocommerce_checkout')],
        'myaccount' => ['my-account', 'woocommerce_myaccount_page_id', 'My account', $shortcode('woocommerce_my_account')],
    ];
}

/**
 * One page, exactly once: the page its option names if that is still a live page; else a live page carrying the
 * same shortcode (or, without one, the same slug), which the option then names; else a new published page.
 */
function wc_standin_create_page(string $slug, string $option, string $title, string $content): int
{
    global $wpdb;
    $dead = ['pending', 'trash', 'future', 'auto-draft'];
    $current = (int) get_option($option);
    $page = $current > 0 ? get_post($current) : null;
    if ($page && $page->post_type === 'page' && !in_array($page->post_status, $dead, true)) {
        return $page->ID;
    }
    $placeholders = implode(',', array_fill(0, count($dead), '%s'));
    if ($content !== '') {
        preg_match('/\[[a-z_]+\]/', $content, $tag);
        $found = $wpdb->get_var($wpdb->prepare(
            "SELECT ID FROM $wpdb->posts WHERE post_type = 'page' AND post_status NOT IN ($placeholders) "
            . 'AND post_content LIKE %s LIMIT 1',
            ...[...$dead, '%' . $wpdb->esc_like($tag[0]) . '%']
        ));
    } else {
        $found = $wpdb->get_var($wpdb->prepare(
            "SELECT ID FROM $wpdb->posts WHERE post_type = 'page' AND post_status NOT IN ($placeholders) "
            . 'AND post_name = %s LIMIT 1',
            ...[...$dead, $slug]
        ));
    }
    if ($found) {
        update_option($option, (int) $found);
        return (int) $found;
    }
    $id = wp_insert_post([
        'post_status' => 'publish',
        'post_type' => 'page',
        'post_author' => get_current_user_id() ?: 1,
        'post_name' => $slug,
        'post_title' => $title,
        'post_content' => $content,
        'comment_status' => 'closed',
    ], true);
    if (is_wp_error($id)) {
        return 0;
    }
    update_option($option, $id);
    return $id;
}

/** All four pages (idempotent); the product archive follows the shop page's slug, so rewrite rules are queued. */
function wc_standin_install_pages(): array
{
    $ids = [];
    foreach (wc_standin_pages() as $key => [$slug, $option, $title, $content]) {
        $ids[$key] = wc_standin_create_page($slug, $option, $title, $content);
    }
    update_option('woocommerce_queue_flush_rewrite_rules', 'yes');
    return $ids;
}

function wc_standin_register_types(): void
{
    $shop = (int) get_option('woocommerce_shop_page_id');
    $archive = $shop && get_post($shop) ? urldecode(get_page_uri($shop)) : 'shop';
    register_post_type('product', [
        'labels' => ['name' => 'Products', 'singular_name' => 'Product'],
        'public' => true,
        'show_ui' => true,
        'capability_type' => 'product',
        'map_meta_cap' => true,
        'hierarchical' => false,
        'rewrite' => ['slug' => 'product', 'with_front' => false, 'feeds' => true],
        'query_var' => true,
        'supports' => ['title', 'editor', 'excerpt', 'thumbnail', 'custom-fields'],
        'has_archive' => $archive,
        'show_in_rest' => true,
    ]);
    register_taxonomy('product_type', 'product', [
        'hierarchical' => false, 'public' => false, 'show_ui' => false, 'query_var' => is_admin(), 'rewrite' => false,
    ]);
    register_taxonomy('product_visibility', 'product', [
        'hierarchical' => false, 'public' => false, 'show_ui' => false, 'query_var' => is_admin(), 'rewrite' => false,
    ]);
}
add_action('init', 'wc_standin_register_types', 5);

// Rewrite rules are rebuilt once after something moved the shop page (WooCommerce queues the flush the same way).
add_action('init', static function (): void {
    if (get_option('woocommerce_queue_flush_rewrite_rules') === 'yes') {
        delete_option('woocommerce_queue_flush_rewrite_rules');
        flush_rewrite_rules(false);
    }
}, 99);

/** What activation sets up: the product types as terms, the product capabilities for administrators, the pages. */
function wc_standin_activate(): void
{
    wc_standin_register_types();
    foreach (['simple', 'grouped', 'variable', 'external'] as $type) {
        if (!term_exists($type, 'product_type')) {
            wp_insert_term($type, 'product_type');
        }
    }
    foreach (['exclude-from-search', 'exclude-from-catalog', 'featured', 'outofstock'] as $term) {
        if (!term_exists($term, 'product_visibility')) {
            wp_insert_term($term, 'product_visibility');
        }
    }
    $admin = get_role('administrator');
    if ($admin) {
        $caps = ['manage_woocommerce', 'edit_product', 'read_product', 'delete_product', 'edit_products',
                 'edit_others_products', 'publish_products', 'read_private_products', 'delete_products',
                 'delete_private_products', 'delete_published_products', 'delete_others_products',
                 'edit_private_products', 'edit_published_products'];
        foreach ($caps as $cap) {
            $admin->add_cap($cap);
        }
    }
    update_option('woocommerce_version', WC_STANDIN_VERSION);
    wc_standin_install_pages();
}
register_activation_hook(__FILE__, 'wc_standin_activate');

/** Products whose SKU is one of $skus (all products when empty), oldest first. */
function wc_standin_find_products(array $skus = [], string $status = 'any'): array
{
    $query = ['post_type' => 'product', 'post_status' => $status, 'posts_per_page' => -1, 'orderby' => 'ID',
              'order' => 'ASC', 'suppress_filters' => true];
    if ($skus) {
        $query['meta_query'] = [['key' => '_sku', 'value' => $skus, 'compare' => 'IN']];
    }
    return get_posts($query);
}

function wc_standin_decimal($value): ?string
{
    if ($value === null || $value === '') {
        return '';
    }
    return is_numeric($value) && (float) $value >= 0 ? (string) $value : null;
}

/**
 * Creates a simple product from the fields WooCommerce's REST API takes (name, regular_price, sale_price, sku,
 * manage_stock, stock_quantity, status, description, short_description, slug), writing the post and the meta keys
 * WooCommerce's product data store uses, and the product_type term. Returns the id or a WP_Error.
 */
function wc_standin_create_product(array $data)
{
    $type = $data['type'] ?? 'simple';
    if ($type !== 'simple') {
        return new WP_Error('wc_standin_type', "This local WooCommerce stand-in creates only simple products, not '$type'.");
    }
    $regular = wc_standin_decimal($data['regular_price'] ?? '');
    $sale = wc_standin_decimal($data['sale_price'] ?? '');
    if ($regular === null || $sale === null) {
        return new WP_Error('rest_invalid_param', 'Invalid parameter(s): ' . ($regular === null ? 'regular_price' : 'sale_price'));
    }
    $sku = trim((string) ($data['sku'] ?? ''));
    if ($sku !== '' && wc_standin_find_products([$sku])) {
        return new WP_Error('product_invalid_sku', 'Invalid or duplicated SKU.');
    }
    $manage = filter_var($data['manage_stock'] ?? false, FILTER_VALIDATE_BOOLEAN);
    $stock = isset($data['stock_quantity']) && $data['stock_quantity'] !== '' ? $data['stock_quantity'] : null;
    if ($stock !== null && filter_var($stock, FILTER_VALIDATE_INT) === false) {
        return new WP_Error('rest_invalid_param', 'Invalid parameter(s): stock_quantity');
    }
    $status = $data['status'] ?? 'publish';
    if (!in_array($status, ['draft', 'pending', 'private', 'publish'], true)) {
        return new WP_Error('rest_invalid_param', 'Invalid parameter(s): status');
    }
    $post = [
        'post_type' => 'product',
        'post_status' => $status,
        'post_title' => (string) ($data['name'] ?? 'Product'),
        'post_content' => (string) ($data['description'] ?? ''),
        'post_excerpt' => (string) ($data['short_description'] ?? ''),
        'post_author' => get_current_user_id(),
        'comment_status' => 'open',
        'ping_status' => 'closed',
    ];
    if (!empty($data['slug'])) {
        $post['post_name'] = (string) $data['slug'];
    }
    $id = wp_insert_post(wp_slash($post), true);
    if (is_wp_error($id)) {
        return $id;
    }
    $on_sale = $sale !== '' && ($regular === '' || (float) $sale < (float) $regular);
    $in_stock = !$manage || (int) $stock > 0;
    $meta = [
        '_sku' => $sku,
        '_regular_price' => $regular,
        '_sale_price' => $sale,
        '_price' => $on_sale ? $sale : $regular,
        '_manage_stock' => $manage ? 'yes' : 'no',
        '_stock' => $manage ? (string) (int) $stock : '',
        '_stock_status' => $in_stock ? 'instock' : 'outofstock',
        '_backorders' => 'no',
        '_sold_individually' => 'no',
        '_virtual' => 'no',
        '_downloadable' => 'no',
        '_tax_status' => 'taxable',
        '_tax_class' => '',
        'total_sales' => '0',
        '_wc_average_rating' => '0',
        '_wc_review_count' => '0',
        '_product_version' => WC_STANDIN_VERSION,
    ];
    foreach ($meta as $key => $value) {
        update_post_meta($id, $key, wp_slash($value));
    }
    wp_set_object_terms($id, 'simple', 'product_type');
    // Catalog visibility is taxonomy terms, not meta: a visible product has none, an out-of-stock one "outofstock".
    wp_set_object_terms($id, $in_stock ? [] : ['outofstock'], 'product_visibility');
    return $id;
}

/** A product as WooCommerce's REST API names its fields (the subset the stand-in knows). */
function wc_standin_product_data(WP_Post $post): array
{
    $meta = static fn (string $key): string => (string) get_post_meta($post->ID, $key, true);
    $types = wp_get_object_terms($post->ID, 'product_type', ['fields' => 'slugs']);
    $manage = $meta('_manage_stock') === 'yes';
    $price = $meta('_price');
    $sale = $meta('_sale_price');
    return [
        'id' => $post->ID,
        'name' => $post->post_title,
        'slug' => $post->post_name,
        'permalink' => get_permalink($post),
        'type' => is_array($types) && $types ? $types[0] : 'simple',
        'status' => $post->post_status,
        'sku' => $meta('_sku'),
        'price' => $price,
        'regular_price' => $meta('_regular_price'),
        'sale_price' => $sale,
        'on_sale' => $sale !== '' && $sale === $price,
        'manage_stock' => $manage,
        'stock_quantity' => $manage ? (int) $meta('_stock') : null,
        'stock_status' => $meta('_stock_status'),
    ];
}

// ------------------------------------------------------------------------------------------------ served pages

function wc_standin_price(string $amount): string
{
    $symbols = ['USD' => '$', 'EUR' => '€', 'GBP' => '£', 'INR' => '₹', 'JPY' => '¥'];
    $currency = (string) get_option('woocommerce_currency', 'USD');
    $symbol = $symbols[$currency] ?? $currency . ' ';
    $number = number_format((float) $amount, 2);
    $formats = ['left' => '%1$s%2$s', 'right' => '%2$s%1$s', 'left_space' => '%1$s&nbsp;%2$s',
                'right_space' => '%2$s&nbsp;%1$s'];
    $format = $formats[get_option('woocommerce_currency_pos', 'left')] ?? $formats['left'];
    return '<span class="amount">' . sprintf($format, esc_html($symbol), esc_html($number)) . '</span>';
}

function wc_standin_product_summary(WP_Post $post): string
{
    $p = wc_standin_product_data($post);
    if ($p['on_sale']) {
        $price = '<del>' . wc_standin_price($p['regular_price']) . '</del> <ins>' . wc_standin_price($p['sale_price']) . '</ins>';
    } else {
        $price = $p['price'] !== '' ? wc_standin_price($p['price']) : '';
    }
    $stock = $p['stock_status'] === 'instock'
        ? ($p['manage_stock'] ? sprintf('%d in stock', $p['stock_quantity']) : 'In stock')
        : 'Out of stock';
    $html = '<div class="product-summary">';
    $html .= '<p class="price">' . $price . ($p['on_sale'] ? ' <span class="onsale">Sale!</span>' : '') . '</p>';
    $html .= '<p class="sku">SKU: <span class="sku-value">' . esc_html($p['sku']) . '</span></p>';
    $html .= '<p class="stock ' . esc_attr($p['stock_status']) . '">' . esc_html($stock) . '</p>';
    return $html . '</div>';
}

// A product's content is followed by its price, SKU and stock, on the shop page and on the product page.
add_filter('the_content', static function (string $content): string {
    $post = get_post();
    if (!$post || $post->post_type !== 'product' || !in_the_loop()) {
        return $content;
    }
    return $content . wc_standin_product_summary($post);
}, 20);

// The shop page is the product archive (WooCommerce's rule): every published product, oldest first, no paging.
add_action('pre_get_posts', static function (WP_Query $query): void {
    if (!is_admin() && $query->is_main_query() && $query->is_post_type_archive('product')) {
        $query->set('posts_per_page', -1);
        $query->set('orderby', 'ID');
        $query->set('order', 'ASC');
    }
});
add_filter('post_type_archive_title', static function (string $title, string $post_type): string {
    $shop = (int) get_option('woocommerce_shop_page_id');
    return $post_type === 'product' && $shop ? get_the_title($shop) : $title;
}, 10, 2);

add_filter('body_class', static function (array $classes): array {
    if (is_post_type_archive('product')) {
        $classes[] = 'woocommerce-shop';
    }
    return $classes;
});

function wc_standin_shortcode(string $what): string
{
    return '<div class="woocommerce-standin-notice" role="note"><p><strong>' . esc_html($what)
        . ' is not available.</strong> ' . esc_html(WC_STANDIN_NOTICE) . '</p>'
        . '<p><a href="' . esc_url(get_post_type_archive_link('product')) . '">Back to the shop</a></p></div>';
}
add_shortcode('woocommerce_cart', static fn () => wc_standin_shortcode('The cart'));
add_shortcode('woocommerce_checkout', static fn () => wc_standin_shortcode('Checkout'));
add_shortcode('woocommerce_my_account', static fn () => wc_standin_shortcode('My account'));

add_action('rest_api_init', static function (): void {
    register_rest_route('wc-standin/v1', '/status', [
        'methods' => 'GET',
        'permission_callback' => '__return_true',
        'callback' => static fn () => [
            'plugin' => 'woocommerce',
            'standin' => true,
            'woocommerce' => false,
            'message' => 'LOCAL STAND-IN for tests; this is not WooCommerce',
        ],
    ]);
});
