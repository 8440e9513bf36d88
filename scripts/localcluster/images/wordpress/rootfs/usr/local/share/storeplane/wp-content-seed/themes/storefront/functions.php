<?php
// LOCAL STAND-IN theme: the theme's own stylesheet (served from this store, nothing from outside) and a title tag.
add_action('after_setup_theme', static function (): void {
    add_theme_support('title-tag');
});
add_action('wp_enqueue_scripts', static function (): void {
    wp_enqueue_style('standin-theme', get_stylesheet_uri(), [], wp_get_theme()->get('Version'));
});
