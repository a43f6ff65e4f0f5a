from advisor.app_pages.advise_page import render

render()
