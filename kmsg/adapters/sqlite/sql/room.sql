-- The file's size and limits, in pages (space.py).
SELECT page_size, page_count, freelist_count, max_page_count
FROM pragma_page_size, pragma_page_count, pragma_freelist_count, pragma_max_page_count
